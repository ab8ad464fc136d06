"""The 12 nm ASIC projection: energy and latency of a sentence from the accelerator's measured
cycles and counters (docs/design.md section 5, docs/energy_model.md).

Per operator o of a phase run at supply V (T_o = cycles_o / f(V)):

    E_o = [ (MACs_o - gated_o + g gated_o) e_MAC + SFU elements_o e_SFU + cycles_o e_cycle ] (V/V0)^2
          + P_leak s_leak(V) T_o + off-chip words_o 32 e_bit

and per sentence + switches E_switch + P_idle (deadline - end). g = gated_mac_fraction (a MAC
with a zero operand is clock-gated, not skipped); e_cycle = P_overhead / f0, so each operator
carries the clock-tree/control overhead and the leakage of its own cycles; P_idle follows
`idle_power`. f(V) is the alpha-power law (edgebert.accel.asic12nm); s_leak(V) is the Stillmaker
& Baas HP14 power polynomial relative to V0. Every parameter and its source is in
model_export/accel/params/asic12nm.json, which users can edit; the loader checks it.
"""
from __future__ import annotations

import numpy as np

from edgebert.accel.asic12nm import EnergyParams
from edgebert.accel.cost import Schedule

# The operators of a phase, each with its own share of overhead and leakage. GELU runs on the
# matmul drain path and owns no cycles; "memory" is the off-chip bits, "embedding" the row
# fetch and sum. Per sentence two more entries: V/F switches and idle time to the deadline.
OPERATORS = ("matmul", "softmax", "layernorm", "gelu", "offramp", "embedding", "memory")
SENTENCE_EXTRAS = ("switch", "idle")
BREAKDOWN = OPERATORS + SENTENCE_EXTRAS


def operator_energy(p: EnergyParams, ops: dict[str, dict], v: float) -> dict[str, float]:
    """Energy (uJ) of each operator at supply v. `ops` maps operator -> {"cycles", "macs",
    "gated_macs" (optional), "sfu" (SFU elements), "offchip_words" (optional)}: its MACs (the
    gated ones at gated_mac_fraction), its SFU elements, and the per-cycle overhead and the
    leakage of its own cycles (leakage time = cycles / f(v)). The values sum to the phase's
    energy when the cycles sum to the phase's."""
    dyn = (v / p.v0) ** 2
    leak_pj_per_cycle = p.p_leak_mw * 1e-3 * p.leak_scale(v) / (p.freq(v) * 1e6) * 1e12
    out = {}
    for name, o in ops.items():
        macs, gated, cycles = o.get("macs", 0), o.get("gated_macs", 0), o.get("cycles", 0)
        mac_pj = (macs - gated + gated * p.gated_mac_fraction) * p.e_mac_pj
        pj = ((mac_pj + o.get("sfu", 0) * p.e_sfu_pj + cycles * p.e_cycle_pj) * dyn
              + cycles * leak_pj_per_cycle + o.get("offchip_words", 0) * 32 * p.e_offchip_pj_per_bit)
        out[name] = pj * 1e-6
    return out


def phase_operators(sched: Schedule, tokens: int, layers: int, embed: bool, counters: dict) -> dict[str, dict]:
    """A phase's measured counters split into OPERATORS: the cycle classes of the counters, the
    MACs (off-ramp MACs from the cost model, gated MACs charged to the matmuls first) and the
    special-function elements (cost model, exact for the schedule)."""
    c = counters
    sfu = sched.sfu_elements(tokens, layers, embed)
    ramp = sched.offramp_macs(layers)
    mm_macs = c["macs"] - ramp
    gated = c.get("gated_macs", 0)
    mm_gated = min(gated, mm_macs)
    classes = ("linear", "attention", "softmax", "layernorm", "embed", "offramp")
    rest = c["cycles"] - sum(c.get(k, 0) for k in classes)     # 0: the cycle classes sum to cycles
    return {
        "matmul": {"cycles": c.get("linear", 0) + c.get("attention", 0) + rest, "macs": mm_macs,
                   "gated_macs": mm_gated},
        "softmax": {"cycles": c.get("softmax", 0), "sfu": sfu["softmax"]},
        "layernorm": {"cycles": c.get("layernorm", 0), "sfu": sfu["layernorm"]},
        "gelu": {"sfu": sfu["gelu"]},
        "offramp": {"cycles": c.get("offramp", 0), "macs": ramp, "gated_macs": gated - mm_gated,
                    "sfu": sfu["tanh"] + sfu["entropy"]},
        "embedding": {"cycles": c.get("embed", 0)},
        "memory": {"offchip_words": c.get("offchip_words", 0)},
    }


def phase_energy(p: EnergyParams, sched: Schedule, tokens: int, layers: int, embed: bool,
                 counters: dict, v: float) -> tuple[dict, float]:
    """Energy per operator (uJ, OPERATORS) and latency (ms) of one phase that ran `layers`
    encoder layers (with their off-ramps) at supply `v`, from the phase's measured counters."""
    ops = operator_energy(p, phase_operators(sched, tokens, layers, embed, counters), v)
    return ops, counters["cycles"] / (p.freq(v) * 1e3)


def switch_energy_uj(p: EnergyParams, switches: int) -> float:
    return switches * p.e_switch_nj * 1e-3


def idle_energy_uj(p: EnergyParams, idle_ms):
    """Energy from a sentence's end to its deadline at the `idle_power` setting (none when the
    sentence ends at or after its deadline)."""
    return p.idle_power_mw * np.maximum(idle_ms, 0.0)                 # mW x ms = uJ


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
