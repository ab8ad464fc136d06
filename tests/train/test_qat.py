"""Quantization-aware training: the fake-quantized model trains, keeps its pruning, and exports
to a golden model that computes what it computed."""
import numpy as np
import torch

from edgebert.accel.golden import GoldenModel
from edgebert.accel.interface import MAX_CLASSES
from edgebert.accel.predictor import H_BINS, LEN_BINS, Binned
from edgebert.core.config import load_model_config
from edgebert.core.tokenization import Encoded
from edgebert.train.batches import collate
from edgebert.train.export import export_task
from edgebert.train.model import PRUNABLE, EdgeBert
from edgebert.train.pruning import magnitude_mask
from edgebert.train.quant import FakeQuantHooks, calibrate_formats
from edgebert.train.stages import qat

CFG = load_model_config("tiny", vocab_size=500, hidden=32, heads=2, ffn=64, layers=4,
                        embed_dim=16, max_len=16, span_ramp=4)


def toy_data(n=256, seed=0):
    """Sentences whose label is whether token 7 occurs: learnable by any working model."""
    rng = np.random.default_rng(seed)
    enc, labels = [], []
    for _ in range(n):
        length = int(rng.integers(3, 12))
        ids = [101] + rng.integers(200, 500, length).tolist() + [102]
        y = int(rng.random() < 0.5)
        if y:
            ids[int(rng.integers(1, length + 1))] = 7
        enc.append(Encoded(ids, [0] * len(ids)))
        labels.append(y)
    labels = np.array(labels)
    teacher = np.stack([np.where(labels == 0, 3.0, -3.0), np.where(labels == 1, 3.0, -3.0)], 1).astype(np.float32)
    return enc, labels, teacher


def test_qat_trains_keeps_pruning_and_exports_faithfully():
    torch.manual_seed(0)
    model = EdgeBert(CFG, torch.randn(CFG.vocab_size, CFG.embed_dim) * 0.3, dropout=0.0)
    named = dict(model.named_parameters())
    with torch.no_grad():
        for n in PRUNABLE:
            named[n].mul_(magnitude_mask(named[n], 0.5))
    enc, labels, teacher = toy_data()
    b = collate(enc, list(range(len(enc))))
    formats = calibrate_formats(model, enc)
    model.set_hooks(FakeQuantHooks(formats))
    hp = {"seed": 0, "epochs": 6, "batch_size": 32, "lr": 3e-3, "warmup": 0.1,
          "temperature": 1.0, "alpha_ce": 0.5, "ramp_weight": 1.0}

    def accuracy():
        with torch.no_grad():
            model.eval()
            return float((model(b.ids, b.token_types, b.pad_mask)[:, -1].argmax(-1).numpy() == labels).mean())

    before = accuracy()
    result = qat(model, enc, teacher, labels, hp, lambda: {"val_score": accuracy()})
    assert result["loss_last_tenth"] < result["loss_first_tenth"]
    assert accuracy() > max(before, 0.75)
    for n in PRUNABLE:
        assert float((named[n] == 0).float().mean()) >= 0.5, n

    # The golden model of the exported integers agrees with the fake-quantized torch model.
    never_early = Binned(np.full((H_BINS, LEN_BINS, MAX_CLASSES), CFG.layers, np.uint8), np.array([8, 16, 24]))
    hw = export_task(model, "sst2", formats, 0.3, np.zeros((100, CFG.layers - 2)), never_early)
    golden = GoldenModel(hw)
    with torch.no_grad():
        fq_logits = model(b.ids, b.token_types, b.pad_mask)[:, -1].numpy()
    for i in range(40):
        z, _ = golden.trace(enc[i].ids, enc[i].token_types)
        assert np.abs(z[-1] / 2.0 ** formats["logit"] - fq_logits[i]).max() < 0.02
