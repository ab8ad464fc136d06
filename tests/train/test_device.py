"""Where training runs: the device choice, batches and random state that follow it, and a
stage whose arithmetic does not change when the pipeline names the CPU."""
import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from edgebert.core.config import load_model_config
from edgebert.core.tokenization import Encoded
from edgebert.train import device
from edgebert.train.batches import collate
from edgebert.train.model import EdgeBert
from edgebert.train.stages import HiddenDistiller, _Trainer, stage1

CFG = load_model_config("tiny", vocab_size=300, hidden=32, heads=2, ffn=64, layers=4, embed_dim=16,
                        max_len=16, span_ramp=4)
DATA = [Encoded([101] + [7 + (i * 7 + k) % 280 for k in range(2 + i % 6)] + [102], [0] * (4 + i % 6))
        for i in range(40)]
TEACHER = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
LABELS = np.arange(40) % 2
HP = {"seed": 0, "steps": 20, "batch_size": 8, "lr": 3e-3, "warmup": 0.1, "temperature": 2.0,
      "alpha_ce": 0.1, "ramp_weight": 1.0, "span_l1": 0.002, "encoder_sparsity": 0.5,
      "prune_start": 0.1, "prune_end": 0.6, "ema": 0.9, "validate_every": 0.25}


def model() -> EdgeBert:
    torch.manual_seed(0)
    return EdgeBert(CFG, torch.randn(300, 16) * 0.3, dropout=0.1)


def validator(m: EdgeBert):
    def validate():
        with torch.no_grad():
            m.eval()
            z = m(torch.tensor([[101, 9, 10, 102]]), torch.zeros(1, 4, dtype=torch.long),
                  torch.ones(1, 4, dtype=torch.bool))
        return {"val_score": float(z[0, -1, 0])}
    return validate


def weights(m: EdgeBert) -> dict:
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_auto_takes_cuda_only_when_torch_sees_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.resolve("auto") == device.resolve(None) == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA device"):
        device.resolve("cuda")
    with pytest.raises(ValueError, match="'gpu'.*auto, cpu, cuda"):
        device.resolve("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device.resolve("auto") == torch.device("cuda")
    assert device.resolve("cpu") == torch.device("cpu")


def test_a_batch_moves_whole_and_its_mask_follows():
    enc = [Encoded([101, 7, 102], [0, 0, 0]), Encoded([101, 102], [0, 0])]
    b = collate(enc, [0, 1]).to(torch.device("cpu"))
    assert b.pad_mask.tolist() == [[True, True, True], [True, True, False]]
    assert b.index.tolist() == [0, 1] and b.ids.device == b.pad_mask.device == torch.device("cpu")


def test_random_state_round_trip_and_the_older_checkpoint_form():
    cpu = torch.device("cpu")
    state = device.rng_state(cpu)
    first = torch.rand(3)
    device.set_rng_state(state, cpu)
    assert torch.equal(torch.rand(3), first)
    device.set_rng_state(state["cpu"], cpu)          # checkpoints that saved the CPU state alone
    assert torch.equal(torch.rand(3), first)


def test_the_device_is_not_part_of_what_a_checkpoint_must_match():
    """A run checkpointed on one device resumes on another."""
    fp = [_Trainer(model(), DATA, TEACHER, LABELS, {**HP, **extra}, model().parameters(), "s")._fingerprint()
          for extra in ({}, {"device": torch.device("cpu")}, {"device": "cpu"})]
    assert fp[0] == fp[1] == fp[2]
    assert fp[0] != _Trainer(model(), DATA, TEACHER, LABELS, {**HP, "lr": 1e-3}, model().parameters(),
                             "s")._fingerprint()


def test_naming_the_cpu_changes_no_result():
    ref, named = model(), model()
    torch.manual_seed(1)
    expected = stage1(ref, DATA, TEACHER, LABELS, dict(HP), validator(ref))
    torch.manual_seed(1)
    result = stage1(named, DATA, TEACHER, LABELS, {**HP, "device": torch.device("cpu")}, validator(named))
    assert result["history"] == expected["history"]
    for name, value in weights(ref).items():
        assert torch.equal(weights(named)[name], value), name


def test_a_student_of_the_teachers_width_starts_mapped_one_to_one():
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=48, max_position_embeddings=16)
    teacher = BertForSequenceClassification(cfg).eval()
    same = HiddenDistiller(teacher, student_hidden=32, student_layers=4)
    assert torch.equal(same.proj.weight, torch.eye(32)) and not same.proj.bias.any()
    other = HiddenDistiller(teacher, student_hidden=16, student_layers=4)
    assert other.proj.weight.shape == (32, 16)
    assert not np.allclose(other.proj.weight.detach().numpy(), 0)
