"""Mid-stage checkpoints: a stage killed part-way and run again ends exactly where an
uninterrupted run ends."""
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from edgebert.core.config import load_model_config
from edgebert.core.tokenization import Encoded
from edgebert.train.batches import bucketed_batches
from edgebert.train.model import EdgeBert
from edgebert.train.stages import BatchStream, stage1, stage2

CFG = load_model_config("tiny", vocab_size=300, hidden=32, heads=2, ffn=64, layers=4, embed_dim=16,
                        max_len=16, span_ramp=4)


def sentences(n: int, offset: int = 0) -> list[Encoded]:
    return [Encoded([101] + [7 + (i * 7 + k + offset) % 280 for k in range(2 + i % 6)] + [102],
                    [0] * (4 + i % 6)) for i in range(n)]


def model() -> EdgeBert:
    torch.manual_seed(0)
    return EdgeBert(CFG, torch.randn(300, 16) * 0.3, dropout=0.1)


HP = {"seed": 0, "steps": 40, "batch_size": 8, "lr": 3e-3, "warmup": 0.1, "temperature": 2.0,
      "alpha_ce": 0.1, "ramp_weight": 1.0, "span_l1": 0.002, "encoder_sparsity": 0.5,
      "prune_start": 0.1, "prune_end": 0.6, "ema": 0.9, "validate_every": 0.125}
DATA = sentences(50)
rng = np.random.default_rng(0)
TEACHER = rng.normal(size=(50, 2)).astype(np.float32)
LABELS = np.where(np.arange(50) % 5 == 0, -1, np.arange(50) % 2)
CORPUS = SimpleNamespace(encoded=sentences(30, offset=3), logits=rng.normal(size=(30, 2)).astype(np.float32), mix=0.5)


def validator(m: EdgeBert, stop_at_call: int | None = None):
    calls = []

    def validate():
        calls.append(1)
        if stop_at_call is not None and len(calls) == stop_at_call:
            raise KeyboardInterrupt("killed")      # as a kill would, between two steps
        with torch.no_grad():
            m.eval()
            z = m(torch.tensor([[101, 9, 10, 102]]), torch.zeros(1, 4, dtype=torch.long),
                  torch.ones(1, 4, dtype=torch.bool))
        return {"val_score": float(z[0, -1, 0])}
    return validate


def weights(m: EdgeBert) -> dict:
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_stream_draws_what_the_epoch_generator_drew_and_goes_back():
    enc = sentences(37)

    def old_stream(seed):
        r = random.Random(seed)
        while True:
            yield from bucketed_batches(enc, 8, True, r)
    old = old_stream(5)
    stream = BatchStream(lambda r: bucketed_batches(enc, 8, True, r), random.Random(5))
    assert [next(stream) for _ in range(23)] == [next(old) for _ in range(23)]   # several epochs
    state = stream.state()
    ahead = [next(stream) for _ in range(9)]
    again = BatchStream(lambda r: bucketed_batches(enc, 8, True, r), random.Random(99))
    again.restore(state)
    assert [next(again) for _ in range(9)] == ahead


@pytest.mark.parametrize("corpus", [None, CORPUS], ids=["task", "with-corpus"])
def test_stage1_killed_and_resumed_equals_uninterrupted(tmp_path, corpus):
    ref = model()
    torch.manual_seed(1)
    expected = stage1(ref, DATA, TEACHER, LABELS, dict(HP), validator(ref), corpus=corpus)

    ckpt = tmp_path / "checkpoints" / "stage1.pt"
    hp = {**HP, "checkpoint": ckpt, "checkpoint_minutes": 0.0}     # a checkpoint after every step
    first = model()
    torch.manual_seed(1)
    with pytest.raises(KeyboardInterrupt):
        stage1(first, DATA, TEACHER, LABELS, dict(hp), validator(first, stop_at_call=4), corpus=corpus)
    assert ckpt.is_file()

    resumed = model()                 # a new process: fresh weights, another random state
    torch.manual_seed(123)
    result = stage1(resumed, DATA, TEACHER, LABELS, dict(hp), validator(resumed), corpus=corpus)
    for name, value in weights(ref).items():
        assert torch.equal(weights(resumed)[name], value), name
    assert result["history"] == expected["history"] and result["final_sparsity"] == expected["final_sparsity"]
    assert result.get("corpus_batches") == expected.get("corpus_batches")
    assert result["resumed_after_step"] == 19 and "resumed_after_step" not in expected   # killed at step 20
    assert not ckpt.exists()          # removed once the stage has ended


def test_stage2_resumes_with_its_pruning_masks(tmp_path):
    hp = {**HP, "steps": 24, "ramp_sparsity": 0.5, "ramp_prune_end": 0.8}
    ref = model()
    torch.manual_seed(2)
    stage2(ref, DATA, TEACHER, LABELS, dict(hp), validator(ref))
    ckpt = tmp_path / "stage2.pt"
    first = model()
    torch.manual_seed(2)
    with pytest.raises(KeyboardInterrupt):
        stage2(first, DATA, TEACHER, LABELS, {**hp, "checkpoint": ckpt, "checkpoint_minutes": 0.0},
               validator(first, stop_at_call=3))
    resumed = model()
    stage2(resumed, DATA, TEACHER, LABELS, {**hp, "checkpoint": ckpt, "checkpoint_minutes": 0.0},
           validator(resumed))
    for name, value in weights(ref).items():
        assert torch.equal(weights(resumed)[name], value), name


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path):
    ckpt = tmp_path / "stage1.pt"
    hp = {**HP, "checkpoint": ckpt, "checkpoint_minutes": 0.0}
    first = model()
    with pytest.raises(KeyboardInterrupt):
        stage1(first, DATA, TEACHER, LABELS, dict(hp), validator(first, stop_at_call=2))
    other = model()
    with pytest.raises(ValueError, match="another configuration of 'stage 1'.*delete it"):
        stage1(other, DATA, TEACHER, LABELS, {**hp, "lr": 1e-3}, validator(other))
