"""AdaptivFloat<8,3> weights (Tambe et al., DAC 2020; EdgeBERT, MICRO 2021).

Code layout, as in EdgeBERT's released hardware: bit 7 sign | bits 6..4 exponent e | bits 3..0
mantissa m. With the per-tensor exponent bias b in BIAS_MIN..BIAS_MAX,

    value = (-1)^s * 2^(e + b - 10) * (1 + m/16)        (e, m) != (0, 0)
    value = 0                                            (e, m) == (0, 0): the reserved zero

No denormals. Encoding rounds the mantissa to nearest, ties to even (the released model
truncates; rounding halves the worst-case error). Magnitudes below half the smallest normal go
to zero, those between half of it and it go to it, those above the largest saturate to it
(and are counted).

Every value is an integer multiple of 2^(b-14): value = w * 2^(b-14) with
w = +-(16 + m) << e, |w| <= 31 * 2^7 = 3968, a 13-bit signed word. The hardware decodes to that
word exactly and folds 2^(b-14) into the shift that requantizes the accumulator.

The bias is b = floor(log2 max|W|) + 3, the tensor's own exponent range, as in the reference
quantizer (Tambe et al.'s `quantize_adaptivfloat`, whose bias is 7 - floor(log2 max|W|) in its
own convention). EdgeBERT stores it in 3 bits (0..7), which clips every tensor with
max|W| < 1/8 (the off-ramp classifiers, the token-type table): their small weights flush to
zero. Here the field holds BIAS_MIN..BIAS_MAX (5 bits, signed); the bias only moves a shift, so
the wider field costs no arithmetic (docs/numerics.md).
"""
from __future__ import annotations

import numpy as np

EXP_BITS, MAN_BITS = 3, 4
BIAS_MIN, BIAS_MAX = -16, 15   # max|W| from 2^-19 to 2^13 keeps its own range
EXP_OFFSET = 10          # value exponent = e + b - EXP_OFFSET
FIXED_SHIFT = 14         # value = decode_fixed(code) * 2^(b - FIXED_SHIFT)
WORD_MAX = 31 << 7       # largest |decode_fixed|: 13-bit signed word


def min_normal(bias: int) -> float:
    """Smallest non-zero magnitude: e = 0, m = 1 (e = m = 0 is zero)."""
    return 2.0 ** (bias - EXP_OFFSET) * 17 / 16


def max_normal(bias: int) -> float:
    return 2.0 ** (7 + bias - EXP_OFFSET) * 31 / 16


def choose_bias(w) -> int:
    """b = floor(log2 max|W|) + 3 (the largest magnitude lands in the top binade), clipped to
    BIAS_MIN..BIAS_MAX; 0 for an all-zero tensor."""
    peak = float(np.max(np.abs(np.asarray(w, dtype=np.float64)))) if np.size(w) else 0.0
    if peak == 0.0:
        return 0
    return int(np.clip(np.floor(np.log2(peak)) + 3, BIAS_MIN, BIAS_MAX))


def _check_bias(bias: int) -> None:
    if not BIAS_MIN <= int(bias) <= BIAS_MAX:
        raise ValueError(f"AdaptivFloat exponent bias {bias} is outside {BIAS_MIN}..{BIAS_MAX}")


def encode(w, bias: int) -> tuple[np.ndarray, int]:
    """uint8 codes for the values `w`, and the number of values that saturated."""
    _check_bias(bias)
    x = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot encode NaN or infinite weights")
    a = np.abs(x)
    mant, exp2 = np.frexp(np.where(a > 0, a, 1.0))        # a = mant * 2^exp2, mant in [0.5, 1)
    e = exp2.astype(np.int64) - 1 - (bias - EXP_OFFSET)
    m = np.rint((mant * 2.0 - 1.0) * 16).astype(np.int64)  # rint: round half to even
    carry = m == 16
    m, e = np.where(carry, 0, m), np.where(carry, e + 1, e)
    # Between half the minimum and the minimum (e < 0, or e = m = 0 after rounding): the minimum.
    small = (e < 0) | ((e == 0) & (m == 0))
    e, m = np.where(small, 0, e), np.where(small, 1, m)
    saturated = e > 7
    e, m = np.where(saturated, 7, e), np.where(saturated, 15, m)
    zero = a < min_normal(bias) / 2
    code = np.where(zero, 0, (np.signbit(x).astype(np.int64) << 7) | (e << 4) | m)
    return code.astype(np.uint8), int(np.count_nonzero(saturated & ~zero))


def _fields(codes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = np.asarray(codes, dtype=np.uint8).astype(np.int64)
    return c >> 7, (c >> 4) & 7, c & 15


def is_zero(codes) -> np.ndarray:
    _, e, m = _fields(codes)
    return (e == 0) & (m == 0)


def decode_fixed(codes) -> np.ndarray:
    """The exact 13-bit signed word of each code (int64): value = word * 2^(bias - 14)."""
    s, e, m = _fields(codes)
    word = np.where((e == 0) & (m == 0), 0, (16 + m) << e)
    return np.where(s == 1, -word, word)


def decode(codes, bias: int) -> np.ndarray:
    _check_bias(bias)
    return decode_fixed(codes).astype(np.float64) * 2.0 ** (bias - FIXED_SHIFT)


def quantize(w, bias: int) -> np.ndarray:
    """decode(encode(w)): the values the hardware computes with."""
    return decode(encode(w, bias)[0], bias)
