"""The 12 nm ASIC's parameters (`params/asic12nm.json` beside this module, each with its source)
and its voltage/frequency operating points: the alpha-power law
f(V) = f0 ((V - Vth)^alpha / V) / ((V0 - Vth)^alpha / V0) on a grid of `levels` supplies from
Vmin to V0. The energy formula that uses them is `edgebert.accel.energy`.

A board's PL clock stands in for the ASIC's frequency: a clock at a fraction r of the board's
maximum maps to the lowest grid point whose frequency is at least r f0, so that a sentence that
meets its target on the board meets the proportionally scaled target on the ASIC.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import cached_property, lru_cache
from pathlib import Path

from edgebert.core.errors import InputError

PARAMS = Path(__file__).resolve().parent / "params" / "asic12nm.json"
IDLE_POWER = ("gated", "leak_at_V0", "leak_at_Vmin")     # what the chip draws between sentences


@dataclass(frozen=True)
class VfPoint:
    volts: float
    mhz: float


@dataclass(frozen=True)
class VfGrid:
    v0: float
    f0_mhz: float
    vmin: float
    levels: int
    vth: float
    alpha: float

    def __post_init__(self):
        if not 0 < self.vth < self.vmin < self.v0:
            raise ValueError(f"need 0 < Vth < Vmin < V0, got {self.vth}, {self.vmin}, {self.v0}")
        if self.levels < 2 or self.alpha <= 0 or self.f0_mhz <= 0:
            raise ValueError("need at least 2 levels, alpha > 0 and f0 > 0")

    def freq(self, v: float) -> float:
        shape = lambda x: (x - self.vth) ** self.alpha / x
        return self.f0_mhz * shape(v) / shape(self.v0)

    @cached_property
    def points(self) -> list[VfPoint]:
        step = (self.v0 - self.vmin) / (self.levels - 1)
        return [VfPoint(round(self.vmin + i * step, 6), self.freq(self.vmin + i * step)) for i in range(self.levels)]

    @cached_property
    def min_ratio(self) -> float:
        """f(Vmin) / f0: the slowest the ASIC runs, as a fraction of its top speed."""
        return self.freq(self.vmin) / self.f0_mhz

    def point_for(self, ratio: float) -> VfPoint:
        """The lowest-voltage point running at least `ratio` of f0 (the top point if none does)."""
        for p in self.points:
            if p.mhz >= ratio * self.f0_mhz - 1e-9:
                return p
        return self.points[-1]


class EnergyParamsError(InputError):
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
    gated_mac_fraction: float
    idle_power: str
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
                                                         "e_switch_nj", "e_offchip_pj_per_bit", "e_dram_pj_per_bit",
                                                         "gated_mac_fraction")})
        if out["gated_mac_fraction"] > 1:
            raise EnergyParamsError(f"{where}: gated_mac_fraction must be in [0, 1], got {out['gated_mac_fraction']}")
        if v["idle_power"] not in IDLE_POWER:
            raise EnergyParamsError(f"{where}: idle_power must be one of {', '.join(IDLE_POWER)}, got {v['idle_power']!r}")
        if not isinstance(v["levels"], int) or v["levels"] < 2:
            raise EnergyParamsError(f"{where}: levels must be an integer >= 2, got {v['levels']!r}")
        poly = v["leak_poly"]
        if not (isinstance(poly, (list, tuple)) and len(poly) == 3 and all(isinstance(c, (int, float)) for c in poly)):
            raise EnergyParamsError(f"{where}: leak_poly must be three numbers a, b, c (a V^2 + b V + c)")
        p = cls(levels=int(v["levels"]), leak_poly=tuple(float(c) for c in poly), idle_power=v["idle_power"], **out)
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
    def idle_power_mw(self) -> float:
        """Power from a sentence's end to its deadline: none (gated), or leakage at V0 or Vmin."""
        return {"gated": 0.0, "leak_at_V0": self.p_leak_mw,
                "leak_at_Vmin": self.p_leak_mw * self.leak_scale(self.vmin)}[self.idle_power]

    @property
    def e_cycle_pj(self) -> float:
        return self.p_overhead_mw / self.f0_mhz * 1e3          # mW / MHz = nJ; x 1e3 -> pJ


@lru_cache(maxsize=None)
def load_grid(path: Path = PARAMS) -> VfGrid:
    """The grid of a parameter file, read and checked by `EnergyParams.load`."""
    return EnergyParams.load(path).grid
