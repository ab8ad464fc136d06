"""Adaptive attention span (Sukhbaatar et al. 2019), over query-key distance.

Each head h has a learned span s_h in [0, S]. Its mask over the distance x = |i - j| between a
query and a key is the soft ramp m(x) = clamp((s_h - x) / R, 0, 1): keys closer than s_h - R
count fully, those beyond s_h not at all. The mask multiplies the softmax probabilities (no
renormalisation), so a head whose span reaches 0 contributes exactly nothing and can be dropped
from the hardware schedule. The same mask is applied in training and at inference.
"""
from __future__ import annotations

import torch


def distance_matrix(n: int, device=None) -> torch.Tensor:
    pos = torch.arange(n, device=device)
    return (pos[:, None] - pos[None, :]).abs()


def span_mask(spans: torch.Tensor, n: int, ramp: int) -> torch.Tensor:
    """(heads, n, n) mask for spans (heads,) given in positions."""
    x = distance_matrix(n, spans.device).to(spans.dtype)
    return ((spans[:, None, None] - x[None]) / ramp).clamp(0.0, 1.0)


def span_table(spans, max_len: int, ramp: int) -> torch.Tensor:
    """(heads, max_len) mask value per distance 0..max_len-1: what the hardware stores."""
    spans = torch.as_tensor(spans, dtype=torch.float32)
    x = torch.arange(max_len, dtype=torch.float32)
    return ((spans[:, None] - x[None]) / ramp).clamp(0.0, 1.0)


def removable_heads(spans, tol: float = 0.0) -> list[int]:
    """Heads whose span has reached 0: their mask is zero everywhere."""
    return [h for h, s in enumerate(torch.as_tensor(spans).tolist()) if s <= tol]
