"""Worst-case error of each integer special function against its float definition, measured
over every input word of its format (or a dense sample where the input is a vector)."""
from __future__ import annotations

import math

import numpy as np
import torch

from edgebert.accel.numerics import functions as fn
from edgebert.accel.numerics.fixed import Saturations, act, to_fixed
from edgebert.train.early_exit import entropy as float_entropy

ALL16 = np.arange(-(1 << 15), 1 << 15, dtype=np.int64)


def _row(name: str, fmt: str, inputs: str, method: str, err: np.ndarray, lsb: float) -> dict:
    worst = float(np.max(np.abs(err)))
    return {"function": name, "format": fmt, "inputs": inputs, "method": method,
            "max_abs_error": worst, "max_error_lsb": worst / lsb}


def special_function_errors(formats: dict[str, int], hidden: int, seed: int = 0) -> list[dict]:
    """One row per function, at the activation formats the model uses."""
    tabs = fn.tables()
    rng = np.random.default_rng(seed)
    rows = []
    f = formats["score"]
    x = ALL16[ALL16 <= 0]
    rows.append(_row("exp (softmax, entropy)", f"in Q.{f}, out UQ1.15", "every x <= 0",
                     "2^(x log2 e): shift + 256-segment PWL of 2^f",
                     fn.exp_neg(x, f, tabs["exp2"]) / 2 ** 15 - np.exp(x / 2 ** f), 2 ** -15))
    s = rng.integers(-(1 << 15), 1 << 15, size=(2000, 32))
    ref = torch.softmax(torch.from_numpy(s / 2 ** f), -1).numpy()
    rows.append(_row("softmax", f"in Q.{f}, out UQ1.15", "2000 random rows of 32 scores",
                     "exp table, exact reciprocal floor(2^40/sum)",
                     fn.softmax(s, f, tabs["exp2"]) / 2 ** 15 - ref, 2 ** -15))
    z = np.arange(1 << 15, 1 << 18)
    rows.append(_row("reciprocal (softmax row sum)", "sum in UQ.15, out 2^-40", "every sum 1..8",
                     "exact integer division",
                     ((np.int64(1) << fn.RECIP_SHIFT) // z) * 2.0 ** -fn.RECIP_SHIFT - 1.0 / z,
                     2.0 ** -fn.RECIP_SHIFT))
    fh = formats["hidden"]
    xs = rng.integers(-(1 << 14), 1 << 14, size=(500, hidden))
    xs = xs * rng.uniform(0.01, 1.0, size=(500, 1))           # spread of row variances
    xs = xs.astype(np.int64)
    gamma, beta = rng.uniform(0.5, 1.5, hidden), rng.normal(0, 0.1, hidden)
    y = fn.layernorm(xs, fh, to_fixed(gamma * math.sqrt(hidden), fn.LN_GAIN_FRAC), to_fixed(beta, fh),
                     fn.layernorm_eps(1e-5, hidden, fh), act(fh), Saturations(), "ln")
    ref = torch.nn.functional.layer_norm(torch.from_numpy(xs / 2 ** fh), (hidden,),
                                         torch.from_numpy(gamma), torch.from_numpy(beta), 1e-5).numpy()
    rows.append(_row("LayerNorm (inverse square root)", f"in/out Q.{fh}", f"500 random rows, H={hidden}",
                     "exact isqrt, floor(2^48/isqrt)", y / 2 ** fh - ref, 2 ** -fh))
    ff = formats["ffn"]
    g = fn.gelu(ALL16, ff, act(ff), tabs["gelu"], Saturations()) / 2 ** ff
    rows.append(_row("GELU (tanh form)", f"in/out Q.{ff}", "every 16-bit word",
                     "512-segment PWL on [-8, 8)", g - fn._gelu(ALL16 / 2 ** ff), 2 ** -ff))
    fp = formats["pool"]
    rows.append(_row("tanh (off-ramp pooler)", f"in Q.{fp}, out Q1.14", "every 16-bit word",
                     "512-segment PWL on [-8, 8)",
                     fn.tanh(ALL16, fp, tabs["tanh"]) / 2 ** 14 - np.tanh(ALL16 / 2 ** fp), 2 ** -14))
    zz = np.arange(1 << 15, 1 << 17)
    rows.append(_row("ln (entropy)", "in integer sum, out Q.16", "every sum 1..4 (UQ.15)",
                     "exponent x ln2 + 256-segment PWL of ln(1+f)",
                     fn.ln_q16(zz, tabs["ln1p"]) / 2 ** 16 - np.log(zz), 2 ** -16))
    fl = formats["logit"]
    logits = rng.integers(-(1 << 15), 1 << 15, size=(20000, 2))
    rows.append(_row("entropy", f"in Q.{fl}, out Q.16", "20000 random logit pairs",
                     "exp, ln, one exact division",
                     fn.entropy(logits, fl, tabs) / 2 ** 16 - float_entropy(logits / 2 ** fl), 2 ** -16))
    return rows
