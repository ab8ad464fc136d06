"""The accelerator's special-function arithmetic units at the widths the HLS code declares.

Every multiplier and divider outside the MAC array is instantiated in the kernels through
`mul<A, B>` / `udiv<N, D>` (hls/include/eb_types.h), whose template arguments are the widths
below; the constants behind them (DIFF_BITS, SUM_BITS, ...) are printed by a probe build and
held equal to this table by a test. The resource estimate prices these units, and the cycle
model charges DIV_CYCLES (interface.py) per division: one radix-2 divider producing one
quotient bit per cycle, sized for the widest quotient (LayerNorm's, below 2^48).

Bounds (the proofs sit next to the code in the kernels):
  softmax   sum of at most EB_MAX_LEN exponentials in UQ1.15: 2^15 <= sum <= EB_MAX_LEN 2^15,
            so floor(2^40 / sum) <= 2^25;
  LayerNorm s = max(isqrt(Q + eps), 2) < 2^31, floor(2^48 / s) < 2^48;
  entropy   sum(-x e) 2^16 < 2^49, z 2^frac < 2^33, quotient below 2^20 (12.5 nats at most).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

RECIP_SHIFT = 40          # softmax: floor(2^40 / sum)
LN_INV_SHIFT = 48         # LayerNorm: floor(2^48 / s)
PROB_ONE = 1 << 15        # UQ1.15


@dataclass(frozen=True)
class Multiplier:
    name: str
    a_bits: int           # signed operand widths
    b_bits: int
    per_lane: bool        # one per special-function lane (n of them), else one in the design
    what: str


@dataclass(frozen=True)
class Divider:
    name: str
    dividend_bits: int    # unsigned
    divisor_bits: int
    quotient_bits: int    # the widest quotient the bounds allow
    what: str


def bits_for(v: int) -> int:
    """Bits of the unsigned value v (v < 2^bits), as eb_types.h's bits_for."""
    return int(v).bit_length()


def multipliers() -> tuple[Multiplier, ...]:
    return (
        Multiplier("exp_scale", 17, 18, True, "softmax/entropy: (x - max) log2(e)"),
        Multiplier("exp_interp", 21, 16, True, "exp2 table interpolation"),
        Multiplier("softmax_normalize", 17, 27, True, "e floor(2^40 / sum)"),
        Multiplier("span_mask", 17, 17, True, "probability x span mask"),
        Multiplier("ln_deviation", 12, 16, True, "LayerNorm: W x"),
        Multiplier("ln_square", 27, 27, True, "LayerNorm: d^2"),
        Multiplier("ln_normalize_hi", 27, 25, True, "LayerNorm: d floor(2^48 / s), high partial product"),
        Multiplier("ln_normalize_lo", 27, 25, True, "LayerNorm: d floor(2^48 / s), low partial product"),
        Multiplier("ln_gain", 22, 32, True, "LayerNorm: t gamma sqrt(W)"),
        Multiplier("pwl_interp", 21, 16, True, "GELU / tanh table interpolation"),
        Multiplier("entropy_moment", 17, 17, False, "entropy: x e"),
        Multiplier("ln_exponent", 8, 33, False, "entropy: k ln 2"),
    )


def dividers(limits: dict) -> tuple[Divider, ...]:
    """The three dividers of a build (the softmax divisor's width follows EB_MAX_LEN)."""
    sum_bits = bits_for(int(limits["EB_MAX_LEN"]) * PROB_ONE)
    return (
        Divider("softmax_recip", RECIP_SHIFT + 1, sum_bits, bits_for((1 << RECIP_SHIFT) // PROB_ONE),
                "floor(2^40 / sum) per attention row"),
        Divider("layernorm_inv", LN_INV_SHIFT + 1, 31, LN_INV_SHIFT, "floor(2^48 / s) per LayerNorm row"),
        Divider("entropy_moment", 49, 33, 20, "sum(-x e) 2^16 / (z 2^frac) per off-ramp"),
    )


def dsp_per_multiplier(a_bits: int, b_bits: int, part: str) -> int:
    """DSP slices of an a x b signed product: DSP48E1 (7-series, Zynq-7000) multiplies 25 x 18,
    DSP48E2 (UltraScale+) 27 x 18 (UG479, UG579); wider products tile them."""
    wide = 25 if part.startswith("xc7") else 27
    return min(math.ceil(a / wide) * math.ceil(b / 18) for a, b in ((a_bits, b_bits), (b_bits, a_bits)))


# LUTs of a radix-2 restoring divider: a divisor-width subtractor and the remainder's multiplexer
# (2 LUT per divisor bit) plus the quotient-bit control (assumption: 20); the same for the
# bit-serial square root, whose subtractor is 64 bits wide.
LUT_PER_DIVISOR_BIT, LUT_DIVIDER_CONTROL = 2, 20
ISQRT_BITS = 64


def divider_luts(d: Divider) -> int:
    return LUT_PER_DIVISOR_BIT * d.divisor_bits + LUT_DIVIDER_CONTROL


def isqrt_luts() -> int:
    return LUT_PER_DIVISOR_BIT * ISQRT_BITS + LUT_DIVIDER_CONTROL
