"""Integer special functions against float references, and the overflow bounds."""
import math

import numpy as np
import pytest
import torch

from edgebert.accel.numerics import functions as fn
from edgebert.accel.numerics.fixed import Saturations, accumulator_bits, act, requantize, round_shift, to_fixed
from edgebert.train.early_exit import entropy as float_entropy

TABS = fn.tables()
ALL16 = np.arange(-(1 << 15), 1 << 15, dtype=np.int64)


def test_round_shift_rounds_half_up_and_shifts_left_exactly():
    np.testing.assert_array_equal(round_shift(np.array([5, 6, 7, -5, -6, -7]), 2), [1, 2, 2, -1, -1, -2])
    np.testing.assert_array_equal(round_shift(np.array([3, -3]), -2), [12, -12])


def test_requantize_saturates_and_counts():
    sat = Saturations()
    y = requantize(np.array([1 << 30, -(1 << 30), 1000]), 10, act(8), sat, "site")
    np.testing.assert_array_equal(y, [32767, -32768, 250])
    assert sat["site"] == 2
    # bias added before the single rounding: 1000/2^10 + 0.25 -> 1.2265625 -> 314/2^8
    assert requantize(np.array([1000]), 10, act(8), sat, "b", bias=np.array([64]))[0] == 314


def test_exp_is_exact_at_zero_and_within_one_lsb():
    e = fn.exp_neg(np.array([0]), 10, TABS["exp2"])
    assert e[0] == fn.PROB_ONE
    x = ALL16[ALL16 <= 0]
    err = np.abs(fn.exp_neg(x, 10, TABS["exp2"]) / 2 ** 15 - np.exp(x / 2 ** 10))
    assert err.max() <= 2 ** -15


def test_gelu_and_tanh_over_every_16_bit_input():
    sat = Saturations()
    g = fn.gelu(ALL16, 10, act(10), TABS["gelu"], sat) / 2 ** 10
    assert np.abs(g - fn._gelu(ALL16 / 2 ** 10)).max() <= 0.6 * 2 ** -10 + 1e-4
    t = fn.tanh(ALL16, 10, TABS["tanh"]) / 2 ** 14
    assert np.abs(t - np.tanh(ALL16 / 2 ** 10)).max() <= 2 ** -14 + 1.3e-4
    assert not sat


def test_ln_of_integers():
    z = np.concatenate([np.arange(1, 5000), np.arange(32768, 200000, 7)])
    assert np.abs(fn.ln_q16(z, TABS["ln1p"]) / 2 ** 16 - np.log(z)).max() < 3e-5


def test_softmax_rows_sum_to_one_and_match_float():
    rng = np.random.default_rng(0)
    s = rng.integers(-4000, 4000, size=(64, 40))
    p = fn.softmax(s, 8, TABS["exp2"])
    ref = torch.softmax(torch.from_numpy(s / 256.0), -1).numpy()
    assert np.abs(p / 2 ** 15 - ref).max() <= 2 * 2 ** -15
    assert np.abs(p.sum(-1) - 2 ** 15).max() <= 40      # each term rounds by at most 1/2 LSB
    equal = fn.softmax(np.zeros((1, 128), dtype=np.int64), 8, TABS["exp2"])
    assert np.all(equal == 256)                          # exactly 1/128


def test_isqrt_is_exact():
    rng = np.random.default_rng(1)
    q = np.concatenate([np.arange(0, 2000), rng.integers(0, 2 ** 62, 5000), [2 ** 62 - 1]])
    s = fn.isqrt(q)
    assert all(int(a) == math.isqrt(int(b)) for a, b in zip(s, q))


def test_layernorm_matches_float():
    rng = np.random.default_rng(2)
    width, fin, fout = 128, 10, 11
    x = rng.integers(-6000, 6000, size=(16, width))
    gamma, beta = rng.uniform(0.5, 1.5, width), rng.normal(0, 0.1, width)
    gain = to_fixed(gamma * math.sqrt(width), fn.LN_GAIN_FRAC)
    sat = Saturations()
    y = fn.layernorm(x, fin, gain, to_fixed(beta, fout), fn.layernorm_eps(1e-5, width, fin),
                     act(fout), sat, "ln") / 2 ** fout
    ref = torch.nn.functional.layer_norm(torch.from_numpy(x / 2 ** fin), (width,),
                                         torch.from_numpy(gamma), torch.from_numpy(beta), 1e-5).numpy()
    assert np.abs(y - ref).max() <= 1.1 * 2 ** -fout


def test_layernorm_intermediates_fit_int64_at_paper_width():
    """The proof of the bound, checked with Python integers on the worst input: H = 768,
    alternating full-scale words."""
    width = 768
    x = [(1 << 15) - 1 if i % 2 else -(1 << 15) for i in range(width)]
    total = sum(x)
    d = [width * v - total for v in x]
    q = sum(v * v for v in d) + fn.layernorm_eps(1e-5, width, 15)
    assert q < 2 ** 63
    s = math.isqrt(q)
    assert max(abs(v) for v in d) <= s                     # so |d * floor(2^48/s)| <= 2^48
    gain = np.full(width, round(math.sqrt(width) * 2 ** fn.LN_GAIN_FRAC))
    out = fn.layernorm(np.array([x]), 15, gain, np.zeros(width, np.int64),
                       fn.layernorm_eps(1e-5, width, 15), act(12), Saturations(), "ln")
    assert np.abs(out / 2 ** 12).max() == pytest.approx(1.0, abs=1e-3)


def test_accumulator_bits_bound():
    from edgebert.accel.numerics.adaptivfloat import WORD_MAX
    assert WORD_MAX == 3968
    assert accumulator_bits(1, 0) == (3968 * 2 ** 15 + 2 ** 15).bit_length() + 1
    # Products alone at ALBERT-base's longest dot product (FFN2, K = 3072) need 39 bits + sign.
    assert accumulator_bits(3072, 0) == 40
    assert accumulator_bits(3072, 24) == 41          # a large bias shift would not fit


def test_entropy_matches_float_and_padding_is_never_seen():
    rng = np.random.default_rng(3)
    logits = rng.integers(-8000, 8000, size=(5000, 2))
    h = fn.entropy(logits, 10, TABS) / 2 ** 16
    assert np.abs(h - float_entropy(logits / 1024.0)).max() < 3e-4
    assert fn.entropy(np.array([[0, 0]]), 10, TABS)[0] == pytest.approx(math.log(2) * 2 ** 16, abs=4)
    assert fn.entropy(np.array([[30000, -30000]]), 10, TABS)[0] == 0
