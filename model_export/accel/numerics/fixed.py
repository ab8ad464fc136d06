"""Fixed-point helpers shared by the golden model: explicit rounding and counted saturation.

Values are int64 numpy arrays holding two's-complement words; a format is (bits, frac): the real
value is word * 2^-frac. Rounding is always round-half-up ((x + 2^(s-1)) >> s with an arithmetic
shift), which is what one adder and a shifter give in hardware and in `ap_fixed<..., AP_RND>`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

ACT_BITS = 16
# Activation sites, one 16-bit format each (model_export/train/quant.py describes them).
SITES = ("emb", "hidden", "q", "k", "v", "score", "ffn", "pool", "logit")


@dataclass(frozen=True)
class Fmt:
    """A signed fixed-point format: `bits` wide with `frac` fraction bits."""
    bits: int
    frac: int

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1


def act(frac: int) -> Fmt:
    return Fmt(ACT_BITS, int(frac))


class Saturations(Counter):
    """Saturation events per site; the golden model reports them, never hides them."""

    def clip(self, x: np.ndarray, fmt: Fmt, site: str) -> np.ndarray:
        over = (x > fmt.hi) | (x < fmt.lo)
        n = int(np.count_nonzero(over))
        if n:
            self[site] += n
            x = np.clip(x, fmt.lo, fmt.hi)
        return x


def round_shift(x, s: int) -> np.ndarray:
    """x * 2^-s rounded half up for s > 0; an exact left shift for s <= 0."""
    x = np.asarray(x, dtype=np.int64)
    if s > 0:
        return (x + (1 << (s - 1))) >> s
    return x << (-s)


def to_fixed(x, frac: int) -> np.ndarray:
    """Real values to words with `frac` fraction bits, rounded half up (no saturation)."""
    return np.floor(np.asarray(x, dtype=np.float64) * 2.0 ** frac + 0.5).astype(np.int64)


def requantize(acc, acc_frac: int, fmt: Fmt, sat: Saturations, site: str,
               bias=None) -> np.ndarray:
    """An accumulator with `acc_frac` fraction bits (plus an optional bias already in `fmt`)
    rounded once into `fmt`, saturating."""
    s = acc_frac - fmt.frac
    acc = np.asarray(acc, dtype=np.int64)
    if bias is not None:
        b = np.asarray(bias, dtype=np.int64)
        acc = acc + (b << s) if s >= 0 else (acc << -s) + b
        s = max(s, 0)
    return sat.clip(round_shift(acc, s), fmt, site)


def accumulator_bits(k: int, shift: int, act_bits: int = ACT_BITS, word_max: int = 3968) -> int:
    """Signed bits a K-term MAC accumulator needs: K products of an activation and a weight word
    (|w| <= 3968, the largest AdaptivFloat word), plus a bias word shifted left by the
    requantization shift."""
    bound = k * word_max * (1 << (act_bits - 1)) + ((1 << (act_bits - 1)) << max(shift, 0))
    return bound.bit_length() + 1


def matmul_exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer matrix product through float64 BLAS. Exact while every partial sum stays below
    2^53; the callers' operands (16-bit activations, 13-bit weights, K <= 4096) reach at most
    2^15 * 2^12 * 2^12 = 2^39."""
    out = np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64)
    return out.astype(np.int64)
