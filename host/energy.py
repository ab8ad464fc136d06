"""The 12 nm ASIC projection: energy and latency of a sentence from the accelerator's measured
cycles and counters (DESIGN section 6).

    latency  T = sum over phases of cycles / f(V)
    energy   E = sum over phases of [ MACs e_MAC (V/V0)^2 + SFU elements e_SFU (V/V0)^2
                                      + cycles e_cycle (V/V0)^2 + P_leak s_leak(V) T ]
                 + DDR/eNVM bits e_bit + switches E_switch

f(V) is the alpha-power law (host/vf.py); s_leak(V) is the Stillmaker & Baas HP14 power
polynomial relative to V0; e_cycle = P_overhead / f0. Every parameter and its source is in
host/params/asic12nm.json, which users can edit; the loader checks it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path

from model_export.cost import Schedule

from .vf import PARAMS, VfGrid

OPERATORS = ("matmul", "softmax", "layernorm", "gelu", "offramp", "memory", "overhead", "leakage")


class EnergyParamsError(ValueError):
    """A parameter file with a missing, malformed or out-of-range value."""


@dataclass(frozen=True)
class EnergyParams:
    v0: float
    f0_mhz: float
    vmin: float
    levels: int
    vth: float
    alpha: float
    e_mac_pj: float
    e_sfu_pj: float
    p_overhead_mw: float
    p_leak_mw: float
    leak_poly: tuple
    e_offchip_pj_per_bit: float
    e_dram_pj_per_bit: float
    t_switch_ns: float
    e_switch_nj: float

    @classmethod
    def load(cls, path: str | Path = PARAMS, **overrides) -> "EnergyParams":
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise EnergyParamsError(f"cannot read energy parameters {path}: {e}") from None
        values = {}
        for f in fields(cls):
            entry = raw.get(f.name)
            if not isinstance(entry, dict) or "value" not in entry:
                raise EnergyParamsError(f"{path}: parameter {f.name!r} is missing (expected {{\"value\": ...}})")
            if "source" not in entry:
                raise EnergyParamsError(f"{path}: parameter {f.name!r} names no source")
            values[f.name] = entry["value"]
        values.update(overrides)
        return cls.checked(path, values)

    @classmethod
    def checked(cls, where, v: dict) -> "EnergyParams":
        def num(name, positive=True, allow_zero=False):
            x = v[name]
            if not isinstance(x, (int, float)) or isinstance(x, bool):
                raise EnergyParamsError(f"{where}: {name} must be a number, got {x!r}")
            if positive and (x < 0 or (x == 0 and not allow_zero)):
                raise EnergyParamsError(f"{where}: {name} must be {'>= 0' if allow_zero else '> 0'}, got {x}")
            return float(x)
        out = {k: num(k) for k in ("v0", "f0_mhz", "vmin", "vth", "alpha", "e_mac_pj")}
        out.update({k: num(k, allow_zero=True) for k in ("e_sfu_pj", "p_overhead_mw", "p_leak_mw", "t_switch_ns",
                                                         "e_switch_nj", "e_offchip_pj_per_bit", "e_dram_pj_per_bit")})
        if not isinstance(v["levels"], int) or v["levels"] < 2:
            raise EnergyParamsError(f"{where}: levels must be an integer >= 2, got {v['levels']!r}")
        poly = v["leak_poly"]
        if not (isinstance(poly, (list, tuple)) and len(poly) == 3 and all(isinstance(c, (int, float)) for c in poly)):
            raise EnergyParamsError(f"{where}: leak_poly must be three numbers a, b, c (a V^2 + b V + c)")
        p = cls(levels=int(v["levels"]), leak_poly=tuple(float(c) for c in poly), **out)
        try:
            p.grid                      # the V/F grid checks its own parameters
        except ValueError as e:
            raise EnergyParamsError(f"{where}: {e}") from None
        if any(p.leak_scale(x) <= 0 for x in (p.vmin, p.v0)):
            raise EnergyParamsError(f"{where}: leak_poly is not positive over [vmin, v0]")
        return p

    @cached_property
    def grid(self) -> VfGrid:
        return VfGrid(self.v0, self.f0_mhz, self.vmin, self.levels, self.vth, self.alpha)

    def freq(self, v: float) -> float:
        return self.grid.freq(v)

    def leak_scale(self, v: float) -> float:
        a, b, c = self.leak_poly
        return (a * v * v + b * v + c) / (a * self.v0 ** 2 + b * self.v0 + c)

    @property
    def e_cycle_pj(self) -> float:
        return self.p_overhead_mw / self.f0_mhz * 1e3          # mW / MHz = nJ; x 1e3 -> pJ


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
