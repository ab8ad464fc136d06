"""Magnitude pruning with the cubic sparsity schedule (Zhu & Gupta 2017), per tensor.

Encoder weight matrices are pruned gradually to a target sparsity during stage-1 training;
the word-embedding table is pruned once by magnitude (it is frozen). At the end the masks are
frozen into the weights: a zero weight is a pruned weight, and the bitmask is `w != 0`.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def cubic_sparsity(step: int, start: int, end: int, final: float, initial: float = 0.0) -> float:
    """s_t = s_f + (s_i - s_f) (1 - (t - t0) / (t1 - t0))^3, held at s_i before t0, s_f after t1."""
    if step <= start:
        return initial
    if step >= end:
        return final
    frac = (step - start) / (end - start)
    return final + (initial - final) * (1.0 - frac) ** 3


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep the largest-magnitude (1 - sparsity) share of entries; ties broken by position."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    n = weight.numel()
    n_prune = int(round(sparsity * n))
    mask = torch.ones(n, dtype=torch.bool, device=weight.device)
    if n_prune:
        order = torch.argsort(weight.detach().abs().flatten(), stable=True)
        mask[order[:n_prune]] = False
    return mask.view_as(weight)


class MagnitudePruner:
    """Holds a mask per named parameter and keeps the pruned entries at zero."""

    def __init__(self, model: nn.Module, names: tuple[str, ...], final_sparsity: float,
                 start_step: int, end_step: int, every: int = 50, hold_zeros: bool = False):
        """With `hold_zeros`, weights that are zero already (a pruned model trained further)
        start pruned, and the schedule only prunes beyond the sparsity they give."""
        params = dict(model.named_parameters())
        missing = [n for n in names if n not in params]
        if missing:
            raise KeyError(f"no parameters named {missing}")
        self.params = {n: params[n] for n in names}
        self.masks = {n: (p != 0) if hold_zeros else torch.ones_like(p, dtype=torch.bool)
                      for n, p in self.params.items()}
        self.final, self.start, self.end, self.every = final_sparsity, start_step, end_step, every
        self.sparsity = min(float((~m).float().mean()) for m in self.masks.values()) if hold_zeros else 0.0

    def step(self, step: int) -> None:
        """Call after each optimizer step: update masks on schedule, then zero pruned weights."""
        if step % self.every == 0 or step == self.end:
            target = cubic_sparsity(step, self.start, self.end, self.final)
            if target > self.sparsity:
                self.sparsity = target
                for n, p in self.params.items():
                    self.masks[n] = magnitude_mask(p, target)
        self.apply()

    def state_dict(self) -> dict:
        return {"masks": {n: m.clone() for n, m in self.masks.items()}, "sparsity": self.sparsity}

    def load_state_dict(self, state: dict) -> None:
        self.masks = {n: m.to(self.params[n].device, copy=True) for n, m in state["masks"].items()}
        self.sparsity = state["sparsity"]

    @torch.no_grad()
    def apply(self) -> None:
        for n, p in self.params.items():
            p.mul_(self.masks[n])


def sparsity_report(tensors: dict[str, torch.Tensor]) -> dict[str, dict]:
    """Per tensor: entries, zeros, and sparsity (share of zeros)."""
    report = {}
    for name, t in tensors.items():
        zeros = int((t == 0).sum())
        report[name] = {"shape": list(t.shape), "entries": t.numel(), "zeros": zeros,
                        "sparsity": round(zeros / t.numel(), 4)}
    return report
