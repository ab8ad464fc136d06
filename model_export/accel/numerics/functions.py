"""The special function unit in integer arithmetic: exp, softmax (with the span mask),
reciprocal, LayerNorm (integer square root), GELU, tanh, natural log and entropy.

Each function is defined here bit for bit; the HLS kernels implement the same integer steps and
read the same look-up tables, which travel in the export artifact (EdgeBERT keeps its LUTs in the
auxiliary buffer). Piecewise-linear tables hold Q.16 samples at uniform breakpoints and are
interpolated with one multiply and a rounded shift.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgebert.accel.numerics.fixed import Fmt, Saturations, round_shift

Q16 = 16
PROB_FRAC = 15                      # softmax probabilities and span masks: UQ1.15, 1.0 = 32768
PROB_ONE = 1 << PROB_FRAC
ENTROPY_FRAC = 16                   # entropies and the threshold: Q.16 in 32 bits
TANH_FRAC = 14                      # off-ramp pooler output: Q1.14
LOG2E_Q16 = round(math.log2(math.e) * 2 ** 16)    # 94548
LN2_Q32 = round(math.log(2) * 2 ** 32)
RECIP_SHIFT = 40                    # softmax reciprocal: floor(2^40 / sum)
LN_INV_SHIFT = 48                   # LayerNorm: floor(2^48 / isqrt(Q))
LN_NORM_FRAC = 20                   # LayerNorm's normalized value / sqrt(H), Q.20
LN_GAIN_FRAC = 16                   # LayerNorm gain gamma * sqrt(H), Q.16


@dataclass(frozen=True)
class Pwl:
    """A piecewise-linear table: samples of f at lo + i / 2^seg_log2, i = 0..segments."""
    name: str
    lo: float
    seg_log2: int
    segments: int

    def table(self) -> np.ndarray:
        x = self.lo + np.arange(self.segments + 1, dtype=np.float64) / 2.0 ** self.seg_log2
        return np.floor(_REFERENCE[self.name](x) * 2.0 ** Q16 + 0.5).astype(np.int64)

    @property
    def hi(self) -> float:
        return self.lo + self.segments / 2.0 ** self.seg_log2


def _gelu(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


_REFERENCE = {"exp2": np.exp2, "gelu": _gelu, "tanh": np.tanh, "ln1p": np.log1p}

EXP2 = Pwl("exp2", 0.0, 8, 256)        # 2^f on [0, 1)
GELU = Pwl("gelu", -8.0, 5, 512)       # tanh-approximated GELU on [-8, 8)
TANH = Pwl("tanh", -8.0, 5, 512)       # tanh on [-8, 8)
LN1P = Pwl("ln1p", 0.0, 8, 256)        # ln(1 + f) on [0, 1)
TABLES = (EXP2, GELU, TANH, LN1P)


def tables() -> dict[str, np.ndarray]:
    return {t.name: t.table() for t in TABLES}


def _interp(table: np.ndarray, idx: np.ndarray, rem: np.ndarray, rem_bits: int) -> np.ndarray:
    base = table[idx]
    return base + round_shift((table[idx + 1] - base) * rem, rem_bits)


def pwl_eval(pwl: Pwl, table: np.ndarray, x: np.ndarray, frac: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q.16 value of the table at words `x` (with `frac` fraction bits), and masks of inputs
    below and at/above the table's domain (whose value the caller defines)."""
    x = np.asarray(x, dtype=np.int64)
    u = x - int(round(pwl.lo * 2 ** frac))
    shift = frac - pwl.seg_log2
    if shift >= 0:
        idx, rem = u >> shift, u & ((1 << shift) - 1)
    else:
        idx, rem = u << -shift, np.zeros_like(u)
    below, above = idx < 0, idx >= pwl.segments
    idx_c = np.clip(idx, 0, pwl.segments - 1)
    rem = np.where(below | above, 0, rem)
    return _interp(table, idx_c, rem, max(shift, 0)), below, above


def gelu(x: np.ndarray, frac: int, out: Fmt, tab: np.ndarray, sat: Saturations) -> np.ndarray:
    """GELU (tanh form) of words in `frac`; 0 below -8, the identity at and above 8."""
    y, below, above = pwl_eval(GELU, tab, x, frac)
    y = round_shift(y, Q16 - out.frac)
    y = np.where(below, 0, np.where(above, round_shift(x, frac - out.frac), y))
    return sat.clip(y, out, "gelu")


def tanh(x: np.ndarray, frac: int, tab: np.ndarray) -> np.ndarray:
    """tanh of words in `frac`, in Q1.14; +-1 outside [-8, 8)."""
    y, below, above = pwl_eval(TANH, tab, x, frac)
    y = round_shift(y, Q16 - TANH_FRAC)
    one = 1 << TANH_FRAC
    return np.where(below, -one, np.where(above, one, y))


def exp_neg(x: np.ndarray, frac: int, tab: np.ndarray) -> np.ndarray:
    """e^x for words x <= 0 in `frac`, as UQ1.15 (e^0 = 32768): 2^(x log2 e) split into an
    integer shift and a table-interpolated 2^f."""
    x = np.asarray(x, dtype=np.int64)
    t = round_shift(x * LOG2E_Q16, frac)          # x * log2(e), Q.16, <= 0
    k, f = t >> Q16, t & ((1 << Q16) - 1)
    v = _interp(tab, f >> 8, f & 255, 8)          # 2^f in Q.16, [65536, 131072]
    shift = 1 - k                                 # Q.16 -> Q.15 and the 2^k
    return np.where(shift > 18, 0, round_shift_var(v, np.minimum(shift, 18)))


def round_shift_var(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """round_shift with a per-element shift s >= 1."""
    return (x + (np.int64(1) << (s - 1))) >> s


def softmax(scores: np.ndarray, frac: int, tab: np.ndarray) -> np.ndarray:
    """Softmax over the last axis of score words, as UQ1.15 probabilities. The reciprocal of
    the row sum is one exact integer division per row, floor(2^40 / sum)."""
    x = scores - scores.max(axis=-1, keepdims=True)
    e = exp_neg(x, frac, tab)
    recip = (np.int64(1) << RECIP_SHIFT) // e.sum(axis=-1, keepdims=True)
    return round_shift(e * recip, RECIP_SHIFT - PROB_FRAC)


def apply_span_mask(probs: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Probabilities times the span mask (both UQ1.15)."""
    return round_shift(probs * mask, PROB_FRAC)


def isqrt(q: np.ndarray) -> np.ndarray:
    """Exact floor(sqrt(q)) for 0 <= q < 2^62 (the hardware's bit-serial square root)."""
    q = np.asarray(q, dtype=np.int64)
    s = np.floor(np.sqrt(q.astype(np.float64))).astype(np.int64)
    s = np.where(s * s > q, s - 1, s)
    s = np.where(s * s > q, s - 1, s)
    s = np.where((s + 1) * (s + 1) <= q, s + 1, s)
    return s


def layernorm_eps(eps: float, width: int, frac: int) -> int:
    """eps in the units of the integer sum of squares Q = sum (H x - sum x)^2 = H^3 Var 4^frac."""
    return int(round(eps * width ** 3 * 4.0 ** frac))


def layernorm(x: np.ndarray, frac: int, gain: np.ndarray, beta: np.ndarray, eps_q: int,
              out: Fmt, sat: Saturations, site: str) -> np.ndarray:
    """LayerNorm over the last axis of words x (|x| < 2^15, any width H <= 1024).

    d = H x - sum(x) is exact; Q = sum d^2 <= H^3 2^30; s = isqrt(Q + eps);
    t = d floor(2^48 / max(s, 2)) is the normalized value over sqrt(H) (|t| <= 2^48, kept as
    Q.20); the gain word holds gamma * sqrt(H) in Q.16 and beta is in the output format. The
    divisor's floor of 2 keeps the quotient within 48 bits and a constant row (Q = 0, eps = 0)
    defined; for H >= 4 it changes nothing (Q is 0, where d = 0, or at least 8)."""
    x = np.asarray(x, dtype=np.int64)
    width = x.shape[-1]
    d = width * x - x.sum(axis=-1, keepdims=True)
    q = (d * d).sum(axis=-1, keepdims=True)
    inv = (np.int64(1) << LN_INV_SHIFT) // np.maximum(isqrt(q + eps_q), 2)
    t = round_shift(d * inv, LN_INV_SHIFT - LN_NORM_FRAC)
    y = round_shift(t * gain, LN_NORM_FRAC + LN_GAIN_FRAC - out.frac) + beta
    return sat.clip(y, out, site)


def ln_q16(z: np.ndarray, ln_tab: np.ndarray) -> np.ndarray:
    """Natural log of integers z >= 1, Q.16: z = (1 + f) 2^k, ln z = k ln 2 + ln(1 + f)."""
    z = np.asarray(z, dtype=np.int64)
    k = np.frexp(z.astype(np.float64))[1].astype(np.int64) - 1   # exact: z < 2^53
    mant = z - (np.int64(1) << k)
    f = np.where(k >= Q16, mant >> np.maximum(k - Q16, 0), mant << np.maximum(Q16 - k, 0))
    return round_shift(k * LN2_Q32, 32 - Q16) + _interp(ln_tab, f >> 8, f & 255, 8)



def entropy(logits: np.ndarray, frac: int, tabs: dict[str, np.ndarray]) -> np.ndarray:
    """Entropy (nats, Q.16) of softmax over the valid logits on the last axis:
    H = ln(sum e^x) - sum(x e^x) / sum(e^x), with x = logit - max. Only the task's real classes
    are passed in: a padded lane would add a term and bias H."""
    x = logits - logits.max(axis=-1, keepdims=True)
    e = exp_neg(x, frac, tabs["exp2"])
    z = e.sum(axis=-1)
    neg_a = -(x * e).sum(axis=-1)                                  # >= 0, Q.(frac + 15)
    ln_term = ln_q16(z, tabs["ln1p"]) - round_shift(PROB_FRAC * LN2_Q32, 32 - Q16)
    b = (neg_a << Q16) // (z << frac)
    return np.maximum(ln_term + b, 0)
