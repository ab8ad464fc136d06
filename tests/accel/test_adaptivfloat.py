"""AdaptivFloat<8,3>: exhaustive codec checks over all 256 codes x 8 biases."""
import numpy as np
import pytest
import torch

from edgebert.accel.numerics import adaptivfloat as af

BIASES = range(af.BIAS_MAX + 1)
CODES = np.arange(256, dtype=np.uint8)


def representable(bias: int) -> np.ndarray:
    """Every value the format holds, sorted (zero once)."""
    return np.unique(af.decode(CODES, bias))


def test_decode_matches_the_format_definition_for_every_code_and_bias():
    for b in BIASES:
        for c in range(256):
            s, e, m = c >> 7, (c >> 4) & 7, c & 15
            want = 0.0 if (e == 0 and m == 0) else (-1) ** s * 2.0 ** (e + b - 10) * (1 + m / 16)
            assert af.decode(np.uint8(c), b) == want, (b, c)


def test_decode_fixed_is_exact_13_bit_word():
    for b in BIASES:
        words = af.decode_fixed(CODES)
        assert np.abs(words).max() == af.WORD_MAX == 3968 < 2 ** 12
        np.testing.assert_array_equal(words * 2.0 ** (b - 14), af.decode(CODES, b))


def test_encode_decode_round_trips_every_code():
    for b in BIASES:
        values = af.decode(CODES, b)
        codes, sat = af.encode(values, b)
        assert sat == 0
        np.testing.assert_array_equal(af.decode(codes, b), values)
        # canonical: only the negative zero 0x80 (and its e=m=0 siblings) changes code
        nonzero = ~af.is_zero(CODES)
        np.testing.assert_array_equal(codes[nonzero], CODES[nonzero])
        assert np.all(codes[~nonzero] == 0)


@pytest.mark.parametrize("bias", list(BIASES))
def test_encode_gives_the_nearest_representable_value(bias):
    grid = representable(bias)
    full = np.concatenate([-grid[::-1], grid])
    rng = np.random.default_rng(bias)
    x = rng.uniform(-1.2, 1.2, 20000) * af.max_normal(bias) * rng.choice([1, 1e-1, 1e-2, 1e-3], 20000)
    q = af.quantize(x, bias)
    nearest_dist = np.abs(full[None, :] - x[:, None]).min(axis=1)
    np.testing.assert_allclose(np.abs(q - x), nearest_dist, rtol=0, atol=0)


@pytest.mark.parametrize("bias", [0, 3, 7])
def test_ties_round_to_even_mantissa(bias):
    # Midpoints between consecutive normals of one binade: m and m+1 -> the even one.
    for e in range(8):
        for m in range(15):
            lo = 2.0 ** (e + bias - 10) * (1 + m / 16)
            hi = 2.0 ** (e + bias - 10) * (1 + (m + 1) / 16)
            if e == 0 and m == 0:
                continue
            code, _ = af.encode((lo + hi) / 2, bias)
            assert int(code) & 15 == (m if m % 2 == 0 else m + 1), (e, m)


def test_small_values_flush_or_snap_to_minimum_and_large_values_saturate():
    b = 2
    mn, mx = af.min_normal(b), af.max_normal(b)
    q = af.quantize(np.array([mn * 0.49, mn * 0.5, mn * 0.9, -mn * 0.9, mx * 1.5, -mx * 4]), b)
    np.testing.assert_array_equal(q, [0, mn, mn, -mn, mx, -mx])
    # 1.01 x max still rounds to max (below the half-step above it); 1.02 x max does not
    _, sat = af.encode(np.array([mx, mx * 1.01, mx * 1.02, -mx * 3, 0.0]), b)
    assert sat == 2


def test_bias_rule_and_range():
    assert af.choose_bias(np.array([0.2, -0.13])) == 0          # max in [1/8, 1/4)
    assert af.choose_bias(np.array([0.25])) == 1
    assert af.choose_bias(np.array([31.0])) == 7
    assert af.choose_bias(np.array([1000.0])) == 7               # clipped
    assert af.choose_bias(np.array([0.001])) == 0
    assert af.choose_bias(np.zeros(3)) == 0
    for b in BIASES:   # the rule's tensor never saturates by more than the top half-step
        peak = 2.0 ** (b - 3)
        assert af.max_normal(b) >= peak
    with pytest.raises(ValueError, match="bias 8"):
        af.encode(np.ones(2), 8)
    with pytest.raises(ValueError, match="NaN"):
        af.encode(np.array([np.nan]), 0)


def test_fake_quant_matches_codec_and_passes_gradients_straight_through():
    w = torch.randn(64, 32) * 0.1
    w.requires_grad_(True)
    from edgebert.train.quant import fake_quant
    q = fake_quant(w)
    b = af.choose_bias(w.detach().numpy())
    np.testing.assert_array_equal(q.detach().numpy(), af.quantize(w.detach().numpy(), b).astype(np.float32))
    q.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))
