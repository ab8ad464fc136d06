"""Where the model meets the hardware numerics: the activation formats and the hooks through
which the PyTorch model computes in float, observes activation ranges, or fake-quantizes every
value exactly where the accelerator rounds it (quantization-aware training).

Sites (one 16-bit format each, chosen by calibration and then frozen):
    emb     word + position + type sum and the embedding LayerNorm output (E wide)
    hidden  every H-wide value: E->H projection, attention output, FFN output, residual sums,
            LayerNorm outputs (one format, because the one shared layer runs 12 times)
    q k v   projections (q carries the folded 1/sqrt(head_dim)); attention context uses v's
    score   q . k
    ffn     FFN1 output and the GELU output
    pool    off-ramp pooler input to tanh
    logit   off-ramp logits
Fixed formats: softmax probabilities and span masks UQ1.15, tanh output Q1.14.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import torch

from edgebert.accel.numerics import adaptivfloat as af
from edgebert.accel.numerics.fixed import ACT_BITS, SITES
from edgebert.accel.numerics.functions import PROB_FRAC, TANH_FRAC
from edgebert.train.batches import bucketed_batches, collate

MAX_FRAC = 15


class FloatHooks:
    """The float model: every hook is the identity."""
    active = False

    def weight(self, w: torch.Tensor) -> torch.Tensor:
        return w

    def act(self, site: str, x: torch.Tensor) -> torch.Tensor:
        return x

    def prob(self, p: torch.Tensor) -> torch.Tensor:
        return p

    def tanh_out(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def table(self, t: torch.Tensor) -> torch.Tensor:
        return t


class ObserveHooks(FloatHooks):
    """Float model that records the largest magnitude seen at each site."""

    def __init__(self):
        self.peak = defaultdict(float)

    def act(self, site, x):
        self.peak[site] = max(self.peak[site], float(x.detach().abs().max()))
        return x

    def formats(self, headroom: float = 1.5) -> dict[str, int]:
        """Most fraction bits that keep headroom x the observed peak inside 16 bits."""
        out = {}
        for site in SITES:
            peak = self.peak.get(site, 0.0) * headroom
            int_bits = max(0, math.ceil(math.log2(peak))) if peak > 0 else 0
            out[site] = int(min(MAX_FRAC, ACT_BITS - 1 - int_bits))
        return out


class FakeQuantHooks(FloatHooks):
    """Quantization-aware model: AdaptivFloat weights, fixed-point activations (round half
    up, saturate), straight-through gradients."""
    active = True

    def __init__(self, formats: dict[str, int]):
        missing = set(SITES) - set(formats)
        if missing:
            raise ValueError(f"activation formats missing for {sorted(missing)}")
        self.formats = {k: int(formats[k]) for k in SITES}

    def weight(self, w):
        return fake_quant(w)

    def act(self, site, x):
        return fake_fixed(x, self.formats[site])

    def prob(self, p):
        return fake_fixed(p, PROB_FRAC, bits=ACT_BITS + 1)     # UQ1.15: 0 .. 1.0 inclusive

    def tanh_out(self, t):
        return fake_fixed(t, TANH_FRAC)

    def table(self, t):
        """A frozen table (word, position, type embeddings) as the hardware stores it."""
        return fake_quant(t)


@torch.no_grad()
def calibrate_formats(model, encoded, headroom: float = 1.5, batch_size: int = 64) -> dict[str, int]:
    """Activation formats from the float model's peaks over the `encoded` sentences."""
    hooks = ObserveHooks()
    previous = model.hooks
    model.set_hooks(hooks)
    model.eval()
    try:
        for idx in bucketed_batches(encoded, batch_size, shuffle=False):
            b = collate(encoded, idx)
            model(b.ids, b.token_types, b.pad_mask)
    finally:
        model.set_hooks(previous)
    return hooks.formats(headroom)


def quantize_span_mask(mask: torch.Tensor) -> torch.Tensor:
    """Span-mask values on the UQ1.15 grid the hardware table holds."""
    return torch.floor(mask * (1 << PROB_FRAC) + 0.5) / (1 << PROB_FRAC)


def quantize_table_np(mask: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(mask, dtype=np.float64) * (1 << PROB_FRAC) + 0.5).astype(np.int64)


class WeightQuantHooks(FloatHooks):
    """AdaptivFloat weights and tables only; activations stay float (for the accuracy ladder)."""
    active = True

    def weight(self, w):
        return fake_quant(w)

    def table(self, t):
        return fake_quant(t)


# ---- straight-through fake quantization (quantization-aware training) ----
class _FakeFixed(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, frac: int, bits: int) -> torch.Tensor:
        scale = 2.0 ** frac
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return (torch.floor(x * scale + 0.5).clamp(lo, hi) / scale).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None, None


def fake_fixed(x: torch.Tensor, frac: int, bits: int = ACT_BITS) -> torch.Tensor:
    """Quantization-aware training: round half up to `frac` fraction bits and saturate to
    `bits`, with a straight-through gradient."""
    return _FakeFixed.apply(x, int(frac), int(bits))


class _FakeQuant(torch.autograd.Function):
    """AdaptivFloat rounding in the forward pass, identity gradient (straight-through)."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, bias: int) -> torch.Tensor:
        q = af.quantize(w.detach().cpu().numpy(), bias)
        return torch.from_numpy(q).to(w.device, w.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def fake_quant(w: torch.Tensor, bias: int | None = None) -> torch.Tensor:
    """Quantization-aware training: the weights as the hardware sees them, gradients passed
    straight through. The bias follows `choose_bias` unless given."""
    if bias is None:
        bias = af.choose_bias(w.detach().cpu().numpy())
    return _FakeQuant.apply(w, bias)
