"""The `bound` mode's least-energy assignment of operating points (docs/energy_model.md). The
12 nm energy of a sentence itself is `edgebert.accel.energy`, which the runtime uses too.
"""
from __future__ import annotations

import numpy as np


def lower_bound_energy(units, e, t, budget) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The least energy of each sentence's work within `budget` (ms): the `bound` mode.

    The work of sentence s is K parts (phase 1, the later layers): units[s, k] of part k, each
    costing e[s, k, i] (uJ) and taking t[s, k, i] (ms) per unit at operating point i. The bound
    is the linear programme in which any fraction of any part may run at any point and switches
    are free, so no schedule of the same work on these points costs less; for most sentences
    its answer is one point, the lowest that meets the budget, or two neighbours sharing it.
    Solved through its dual, max over lam >= 0 of sum_k units_k min_i (e_ki + lam t_ki) - lam
    budget, whose maximum lies at 0 or at a breakpoint of a min. Returns (energy, time used,
    feasible); where even the fastest points miss the budget: every part at its fastest point."""
    u = np.asarray(units, float)
    e, t = np.broadcast_arrays(np.asarray(e, float), np.asarray(t, float))
    e = np.broadcast_to(e, u.shape + e.shape[-1:])
    t = np.broadcast_to(t, u.shape + t.shape[-1:])
    budget = np.broadcast_to(np.asarray(budget, float), u.shape[:1])
    fastest = t.argmin(-1)
    t_fast = (u * np.take_along_axis(t, fastest[..., None], -1)[..., 0]).sum(-1)
    e_fast = (u * np.take_along_axis(e, fastest[..., None], -1)[..., 0]).sum(-1)
    feasible = t_fast <= budget + 1e-12
    # lam = 0: the cheapest point of every part (the fastest of equally cheap ones)
    cheap = np.lexsort((t, e), axis=-1)[..., 0] if e.shape[-1] else None
    e0 = (u * np.take_along_axis(e, cheap[..., None], -1)[..., 0]).sum(-1)
    t0 = (u * np.take_along_axis(t, cheap[..., None], -1)[..., 0]).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = (e[..., :, None] - e[..., None, :]) / (t[..., None, :] - t[..., :, None])
    lam = np.where(np.isfinite(lam) & (lam > 0), lam, 0.0).reshape(len(u), -1)
    lam = np.concatenate([np.zeros((len(u), 1)), lam], axis=1)              # (n, candidates)
    inner = e[:, :, None, :] + lam[:, None, :, None] * t[:, :, None, :]     # (n, K, C, L)
    dual = (u[:, :, None] * inner.min(-1)).sum(1) - lam * budget[:, None]
    constrained = dual.max(-1)
    fits0 = t0 <= budget + 1e-12
    energy = np.where(fits0, e0, np.where(feasible, constrained, e_fast))
    used = np.where(fits0, t0, np.where(feasible, budget, t_fast))
    return energy, used, feasible
