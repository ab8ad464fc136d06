import pytest
import torch

from edgebert.core.config import load_model_config
from edgebert.train.model import PRUNABLE, EdgeBert
from edgebert.train.pruning import MagnitudePruner, cubic_sparsity, magnitude_mask, sparsity_report


def test_cubic_schedule_hand_values():
    assert cubic_sparsity(0, 10, 110, 0.5) == 0.0
    assert cubic_sparsity(10, 10, 110, 0.5) == 0.0
    # halfway: 0.5 + (0 - 0.5) * 0.5^3 = 0.4375
    assert cubic_sparsity(60, 10, 110, 0.5) == pytest.approx(0.4375)
    assert cubic_sparsity(110, 10, 110, 0.5) == 0.5
    assert cubic_sparsity(500, 10, 110, 0.5) == 0.5


def test_schedule_is_monotonic():
    s = [cubic_sparsity(t, 0, 100, 0.6) for t in range(120)]
    assert all(b >= a for a, b in zip(s, s[1:]))


def test_magnitude_mask_keeps_largest():
    w = torch.tensor([[0.1, -3.0], [0.5, -0.2]])
    assert magnitude_mask(w, 0.5).tolist() == [[False, True], [True, False]]


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.6, 0.9])
def test_magnitude_mask_exact_share(sparsity):
    w = torch.randn(64, 48)
    mask = magnitude_mask(w, sparsity)
    assert (~mask).sum().item() == round(sparsity * w.numel())


def test_bad_sparsity():
    with pytest.raises(ValueError):
        magnitude_mask(torch.ones(3), 1.0)


def test_pruner_reaches_target_and_keeps_zeros():
    torch.manual_seed(0)
    model = EdgeBert(load_model_config("tiny"))
    pruner = MagnitudePruner(model, PRUNABLE, 0.5, start_step=0, end_step=100, every=10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(1, 121):
        for p in model.parameters():
            p.grad = torch.randn_like(p)   # an update that would revive pruned weights
        opt.step()
        pruner.step(step)
    report = sparsity_report({n: p for n, p in model.named_parameters() if n in PRUNABLE})
    assert set(report) == set(PRUNABLE)
    for name, r in report.items():
        assert r["sparsity"] == pytest.approx(0.5, abs=0.002), name


def test_pruner_rejects_unknown_names():
    with pytest.raises(KeyError):
        MagnitudePruner(EdgeBert(load_model_config("tiny")), ("nope.weight",), 0.5, 0, 10)


def test_pruner_holds_existing_zeros():
    """A pruned model trained further: its zeros stay zero from the first step on, and the
    schedule does not re-choose them while the target is already met."""
    torch.manual_seed(0)
    model = EdgeBert(load_model_config("tiny"))
    named = dict(model.named_parameters())
    with torch.no_grad():
        for n in PRUNABLE:
            named[n].mul_(magnitude_mask(named[n], 0.5))
    zeros = {n: named[n] == 0 for n in PRUNABLE}
    pruner = MagnitudePruner(model, PRUNABLE, 0.5, start_step=0, end_step=0, every=10, hold_zeros=True)
    assert pruner.sparsity == pytest.approx(0.5, abs=0.002)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(1, 31):
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        opt.step()
        pruner.step(step)
        for n in PRUNABLE:
            assert torch.equal(named[n] == 0, zeros[n]), (step, n)


def test_fresh_pruner_starts_dense_even_with_hold_zeros():
    model = EdgeBert(load_model_config("tiny"))
    assert MagnitudePruner(model, PRUNABLE, 0.5, 0, 10, hold_zeros=True).sparsity == 0.0


def _ramp_model(seed=0):
    import numpy as np

    from edgebert.core.config import load_model_config
    from edgebert.core.tokenization import Tokenizer
    from edgebert.train.model import EdgeBert
    torch.manual_seed(seed)
    cfg = load_model_config("tiny", num_labels=2)
    model = EdgeBert(cfg)
    tok = Tokenizer(cfg.max_len)
    enc = [tok.encode(f"a sentence {i} " + "fine " * (i % 4)) for i in range(24)]
    z = np.random.default_rng(seed).normal(size=(24, 2)).astype(np.float32)
    return model, enc, z, np.arange(24) % 2


def test_stage2_prunes_every_off_ramp_pooler_and_qat_keeps_the_zeros():
    from edgebert.train import stages
    from edgebert.train.model import ramp_poolers
    model, enc, z, y = _ramp_model()
    hp = {"seed": 0, "epochs": 1, "steps": 6, "batch_size": 4, "lr": 1e-3, "temperature": 2.0, "alpha_ce": 0.1,
          "ramp_sparsity": 0.5, "ramp_prune_end": 0.5}
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith("ramps.")}
    result = stages.stage2(model, enc, z, y, hp, None)
    named = dict(model.named_parameters())
    for n in ramp_poolers(model.cfg.layers):
        assert float((named[n] == 0).float().mean()) == pytest.approx(0.5, abs=0.002), n
    assert result["ramp_sparsity"] == pytest.approx(0.5)
    assert all(torch.equal(named[n], w) for n, w in frozen.items())       # the backbone is untouched
    stages.qat(model, enc, z, y, {**hp, "steps": 3}, None)
    for n in ramp_poolers(model.cfg.layers):
        assert float((named[n] == 0).float().mean()) >= 0.5 - 0.002, n


def test_stage2_without_ramp_sparsity_leaves_the_poolers_dense():
    from edgebert.train import stages
    from edgebert.train.model import ramp_poolers
    model, enc, z, y = _ramp_model(1)
    hp = {"seed": 0, "epochs": 1, "steps": 3, "batch_size": 4, "lr": 1e-3, "temperature": 2.0, "alpha_ce": 0.1}
    stages.stage2(model, enc, z, y, hp, None)
    named = dict(model.named_parameters())
    assert all(float((named[n] == 0).float().mean()) < 0.01 for n in ramp_poolers(model.cfg.layers))
