"""AdaptivFloat<8,3>: exhaustive codec checks over all 256 codes x every bias, and the codec against
an independent transcription of the reference quantizer."""
import numpy as np
import pytest
import torch

from edgebert.accel.numerics import adaptivfloat as af

BIASES = range(af.BIAS_MIN, af.BIAS_MAX + 1)
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
    rng = np.random.default_rng(bias - af.BIAS_MIN)
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
    assert af.choose_bias(np.array([1000.0])) == 12              # the tensor's own range
    assert af.choose_bias(np.array([0.001])) == -7
    assert af.choose_bias(np.array([1e9])) == af.BIAS_MAX        # clipped to the field
    assert af.choose_bias(np.array([1e-9])) == af.BIAS_MIN
    assert af.choose_bias(np.zeros(3)) == 0
    for b in BIASES:   # the rule's tensor never saturates by more than the top half-step
        peak = 2.0 ** (b - 3)
        assert af.max_normal(b) >= peak
    with pytest.raises(ValueError, match="bias 16"):
        af.encode(np.ones(2), 16)
    with pytest.raises(ValueError, match="bias -17"):
        af.encode(np.ones(2), -17)
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


def reference_quantize(w: np.ndarray, n_bits: int = 8, n_exp: int = 3) -> np.ndarray:
    """Tambe et al.'s AdaptivFloat quantizer, transcribed from its description: the exponent
    range ends at floor(log2 max|w|); values below half the smallest normal flush to zero, those
    between it and the smallest normal snap to it, those above the largest saturate; the
    mantissa rounds half to even. (At exactly half the smallest normal the published code keeps
    an unrepresentable value; random inputs never land there.)"""
    n_mant = n_bits - 1 - n_exp
    sign, a = np.sign(w), np.abs(w).astype(np.float64)
    top = int(np.frexp(a.max())[1]) - 1                      # floor(log2 max|w|)
    ref_bias = (2 ** n_exp - 1) - top
    min_exp, max_exp = -ref_bias, (2 ** n_exp - 1) - ref_bias
    min_value = 2.0 ** min_exp * (1 + 2.0 ** -n_mant)
    max_value = 2.0 ** max_exp * (2 - 2.0 ** -n_mant)
    a = np.where(a < 0.5 * min_value, 0.0, a)
    a = np.where((a > 0.5 * min_value) & (a < min_value), min_value, a)
    a = np.minimum(a, max_value)
    mant, exp = np.frexp(a)
    mant, exp = 2 * mant, exp - 1
    step = 2.0 ** -n_mant
    return sign * np.exp2(exp) * np.round(mant / step) * step


def _codec(w: np.ndarray) -> np.ndarray:
    return af.quantize(w, af.choose_bias(w))


def test_codec_equals_the_reference_on_tensors_of_every_range():
    rng = np.random.default_rng(0)
    differing = 0
    for scale_log2 in range(-10, 11):
        for shape in ((64, 48), (3, 128)):
            w = rng.standard_normal(shape) * 2.0 ** scale_log2 * rng.uniform(0.3, 1.0)
            differing += int(np.count_nonzero(_codec(w) != reference_quantize(w)))
    assert differing == 0


def test_the_reference_transcription_catches_a_clipped_bias():
    w = np.random.default_rng(1).standard_normal((2, 128)) * 0.02       # max|w| < 1/8
    clipped = af.quantize(w, 0)                                          # EdgeBERT's 3-bit field
    assert np.count_nonzero(clipped != reference_quantize(w)) > 0
    assert np.count_nonzero(_codec(w) != reference_quantize(w)) == 0


def test_every_shipped_weight_tensor_is_quantized_in_its_own_range():
    from edgebert.accel.artifact import load_artifact
    from edgebert.core.paths import DEFAULT_MODEL_DIR
    from edgebert.train.export import float_matrices
    from edgebert.train.package import load_task
    tasks = load_artifact(DEFAULT_MODEL_DIR / "accel")
    for name, hw in tasks.items():
        model, _ = load_task(DEFAULT_MODEL_DIR, name)
        tensors = float_matrices(model)
        assert set(tensors) == set(hw.matrices) | {"word_embeddings"}
        for key, w in tensors.items():
            shipped = hw.word_table if key == "word_embeddings" else hw.matrices[key]
            got = af.decode(shipped.codes, shipped.bias)
            assert np.count_nonzero(got != reference_quantize(w)) == 0, (name, key)
