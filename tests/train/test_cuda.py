"""On a CUDA device (opt in with `-m cuda` on a machine that has one): the training stages and
the teacher give what the CPU gives, up to floating-point noise. Dropout is off in both runs, so
neither draws from its generator; with dropout on, the CUDA generator's draws differ from the
CPU's and the runs agree only statistically."""
import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from edgebert.core.config import load_model_config
from edgebert.core.tokenization import Encoded
from edgebert.train import teacher
from edgebert.train.model import EdgeBert
from edgebert.train.quant import FakeQuantHooks, calibrate_formats
from edgebert.train.stages import general, qat, stage1

pytestmark = pytest.mark.cuda
CUDA = torch.device("cuda")
CFG = load_model_config("tiny", vocab_size=500, hidden=48, heads=2, ffn=96, layers=4, embed_dim=16,
                        max_len=32, span_ramp=4)
DATA = [Encoded([101] + [7 + (i * 11 + k) % 480 for k in range(3 + i % 9)] + [102], [0] * (5 + i % 9))
        for i in range(96)]
TEACHER = np.random.default_rng(0).normal(size=(96, 2)).astype(np.float32)
LABELS = np.arange(96) % 2
HP = {"seed": 0, "steps": 60, "batch_size": 16, "lr": 2e-3, "warmup": 0.1, "temperature": 2.0,
      "alpha_ce": 0.1, "ramp_weight": 1.0, "span_l1": 0.002, "encoder_sparsity": 0.5,
      "prune_start": 0.1, "prune_end": 0.6, "ema": 0.9, "validate_every": 0.25}


def student() -> EdgeBert:
    torch.manual_seed(0)
    return EdgeBert(CFG, torch.randn(500, 16) * 0.3, dropout=0.0)


def scores(m: EdgeBert):
    from edgebert.train.evaluate import all_layer_logits

    def validate():
        return {"val_score": float(all_layer_logits(m, DATA[:32])[:, -1].argmax(1).mean())}
    return validate


def close(a: EdgeBert, b: EdgeBert, tol: float) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        diff = (x.cpu() - y.cpu()).abs()
        assert float((diff > tol).float().mean()) < 0.01, name   # a pruning tie may flip a few


def test_the_tier_has_its_device():
    assert torch.cuda.is_available(), "-m cuda needs a CUDA device"


def test_stage1_and_qat_on_cuda_match_the_cpu():
    runs = {}
    for where in ("cpu", "cuda"):
        m = student()
        s1 = stage1(m, DATA, TEACHER, LABELS, {**HP, "device": torch.device(where)}, scores(m))
        m.to("cpu")
        formats = calibrate_formats(m, DATA[:32], 1.5)
        m.set_hooks(FakeQuantHooks(formats))
        q = qat(m, DATA, TEACHER, LABELS, {**HP, "steps": 20, "lr": 1e-4, "span_l1": 0.0,
                                           "device": torch.device(where)}, scores(m))
        runs[where] = (m.to("cpu"), s1, q)
    (cpu, s1_cpu, q_cpu), (gpu, s1_gpu, q_gpu) = runs["cpu"], runs["cuda"]
    assert s1_gpu["final_sparsity"] == s1_cpu["final_sparsity"]
    assert s1_gpu["loss_last_tenth"] == pytest.approx(s1_cpu["loss_last_tenth"], rel=1e-3)
    assert q_gpu["loss_last_tenth"] == pytest.approx(q_cpu["loss_last_tenth"], rel=1e-2)
    close(cpu, gpu, 1e-3)


def test_general_distillation_and_the_teacher_on_cuda_match_the_cpu():
    torch.manual_seed(0)
    bert = BertForSequenceClassification(BertConfig(
        vocab_size=500, hidden_size=48, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=32, num_labels=2)).eval()
    hp = {"seed": 0, "steps": 40, "batch_size": 16, "lr": 2e-3, "warmup": 0.05}
    cpu, gpu = student(), student()
    a = general(cpu, DATA, dict(hp), bert)
    b = general(gpu, DATA, {**hp, "device": CUDA}, bert)
    assert b["loss_last_tenth"] == pytest.approx(a["loss_last_tenth"], rel=1e-3)
    close(cpu, gpu.to("cpu"), 1e-3)
    z_cpu = teacher.logits(bert.to("cpu"), DATA, progress=False)
    z_gpu = teacher.logits(bert.to(CUDA), DATA, progress=False)
    np.testing.assert_allclose(z_gpu, z_cpu, atol=1e-4)
