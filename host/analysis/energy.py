"""The 12 nm ASIC projection: energy and latency of a sentence from the accelerator's measured
cycles and counters (docs/design.md section 5).

    latency  T = sum over phases of cycles / f(V)
    energy   E = sum over phases of [ MACs e_MAC (V/V0)^2 + SFU elements e_SFU (V/V0)^2
                                      + cycles e_cycle (V/V0)^2 + P_leak s_leak(V) T ]
                 + DDR/eNVM bits e_bit + switches E_switch

f(V) is the alpha-power law (edgebert.accel.asic12nm); s_leak(V) is the Stillmaker & Baas HP14 power
polynomial relative to V0; e_cycle = P_overhead / f0. Every parameter and its source is in
model_export/accel/params/asic12nm.json, which users can edit; the loader checks it.
"""
from __future__ import annotations

from edgebert.accel.asic12nm import EnergyParams
from edgebert.accel.cost import Schedule

OPERATORS = ("matmul", "softmax", "layernorm", "gelu", "offramp", "memory", "overhead", "leakage")


def phase_energy(p: EnergyParams, sched: Schedule, tokens: int, layers: int, embed: bool,
                 counters: dict, v: float) -> tuple[dict, float]:
    """Energy per operator (uJ) and latency (ms) of one phase that ran `layers` encoder layers
    (with their off-ramps) at supply `v`, from the phase's measured counters."""
    dyn = (v / p.v0) ** 2
    sfu = sched.sfu_elements(tokens, layers, embed)
    ramp_macs = sched.offramp_macs(layers)
    seconds = counters["cycles"] / (p.freq(v) * 1e6)
    pj = {
        "matmul": (counters["macs"] - ramp_macs) * p.e_mac_pj * dyn,
        "softmax": sfu["softmax"] * p.e_sfu_pj * dyn,
        "layernorm": sfu["layernorm"] * p.e_sfu_pj * dyn,
        "gelu": sfu["gelu"] * p.e_sfu_pj * dyn,
        "offramp": (ramp_macs * p.e_mac_pj + (sfu["tanh"] + sfu["entropy"]) * p.e_sfu_pj) * dyn,
        "memory": counters.get("offchip_words", 0) * 32 * p.e_offchip_pj_per_bit,
        "overhead": counters["cycles"] * p.e_cycle_pj * dyn,
        "leakage": p.p_leak_mw * 1e-3 * p.leak_scale(v) * seconds * 1e12,
    }
    return {k: v_ * 1e-6 for k, v_ in pj.items()}, seconds * 1e3


def switch_energy_uj(p: EnergyParams, switches: int) -> float:
    return switches * p.e_switch_nj * 1e-3
