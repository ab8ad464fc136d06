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


def asic_deadline_ms(target_ms: float, board, p: EnergyParams) -> float:
    """A board-time target in ASIC time: a clock at a fraction r of the top clock maps to a point
    at least r f0 fast, so a sentence in time on the board is in time on the ASIC."""
    return target_ms * board.top_clock / p.f0_mhz


def project(rec: dict, p: EnergyParams, sched: Schedule, deadline_ms: float) -> dict:
    """Energy per operator (uJ, with switch and idle), total, and ASIC latency (ms) of a logged sentence."""
    e1, t1 = phase_energy(p, sched, rec["tokens"], 1, True, rec["phase1"]["counters"], rec["phase1"]["vf"]["volts"])
    ops, ms, phases = dict(e1), t1, {"phase1": sum(e1.values()), "phase2": 0.0}
    if "phase2" in rec:
        e2, t2 = phase_energy(p, sched, rec["tokens"], rec["exit_layer"] - 1, False, rec["phase2"]["counters"],
                              rec["phase2"]["vf"]["volts"])
        ops = {k: ops[k] + e2[k] for k in ops}
        ms += t2
        phases["phase2"] = sum(e2.values())
    ms += rec.get("clock_switches", 0) * p.t_switch_ns * 1e-6
    ops["switch"] = switch_energy_uj(p, rec.get("clock_switches", 0))
    ops["idle"] = float(idle_energy_uj(p, deadline_ms - ms))
    return {"ops": ops, "phases": phases, "energy_uj": sum(ops.values()), "asic_ms": ms, "exit_layer": rec["exit_layer"]}
