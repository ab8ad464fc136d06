import torch

from edgebert.core.config import load_model_config
from edgebert.train.model import EdgeBert
from edgebert.train.span import removable_heads, span_mask, span_table


def test_mask_values_by_distance():
    # span 3, ramp 2: m(x) = clamp((3 - x) / 2, 0, 1) -> 1, 1, 0.5, 0, 0
    m = span_mask(torch.tensor([3.0]), 5, ramp=2)[0]
    assert torch.allclose(m[0], torch.tensor([1.0, 1.0, 0.5, 0.0, 0.0]))
    assert torch.allclose(m[4], torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))
    assert torch.equal(m, m.T)  # depends on |i - j| only, not on absolute position


def test_mask_is_translation_invariant():
    m = span_mask(torch.tensor([5.0]), 20, ramp=4)[0]
    for shift in range(1, 10):
        assert torch.equal(torch.diagonal(m, shift), torch.full((20 - shift,), m[0, shift].item()))


def test_zero_span_masks_everything_and_full_span_nothing():
    m = span_mask(torch.tensor([0.0, 30.0]), 10, ramp=4)
    assert m[0].sum() == 0
    assert torch.all(m[1] == 1)


def test_table_matches_mask():
    spans = torch.tensor([2.5, 7.0])
    t = span_table(spans, 12, ramp=3)
    m = span_mask(spans, 12, ramp=3)
    assert torch.equal(t, m[:, 0, :])


def test_removable_heads():
    assert removable_heads(torch.tensor([0.0, 3.0, 0.0, 128.0])) == [0, 2]


def _model():
    torch.manual_seed(0)
    return EdgeBert(load_model_config("tiny"), dropout=0.0).eval()


def test_span_changes_inference_output():
    model = _model()
    ids = torch.randint(1000, 2000, (1, 40))
    types = torch.zeros_like(ids)
    pad = torch.ones_like(ids, dtype=torch.bool)
    full = model(ids, types, pad)
    with torch.no_grad():
        model.layer.span_frac[:] = 4 / model.cfg.max_len
    short = model(ids, types, pad)
    assert not torch.allclose(full, short, atol=1e-4)


def test_zero_span_head_contributes_nothing():
    model = _model()
    x = torch.randn(1, 12, model.cfg.hidden)
    pad = torch.ones(1, 12, dtype=torch.bool)
    with torch.no_grad():
        model.layer.span_frac[1] = 0.0
        _, probs = model.layer.attention(x, pad)
        assert torch.all(probs[:, 1] == 0)
        # Perturbing that head's values changes nothing downstream.
        d = model.cfg.head_dim
        before, _ = model.layer.attention(x, pad)
        model.layer.v.weight[d:2 * d] += 1.0
        after, _ = model.layer.attention(x, pad)
    assert torch.allclose(before, after, atol=1e-6)
