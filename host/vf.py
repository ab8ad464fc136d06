"""The 12 nm ASIC's voltage/frequency operating points: the alpha-power law
f(V) = f0 ((V - Vth)^alpha / V) / ((V0 - Vth)^alpha / V0) on a grid of `levels` supplies from
Vmin to V0 (parameters and sources in `host/params/asic12nm.json`).

A board's PL clock stands in for the ASIC's frequency: a clock at a fraction r of the board's
maximum maps to the lowest grid point whose frequency is at least r f0, so that a sentence that
meets its target on the board meets the proportionally scaled target on the ASIC.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

PARAMS = Path(__file__).resolve().parent / "params" / "asic12nm.json"


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


@lru_cache(maxsize=None)
def load_grid(path: Path = PARAMS) -> VfGrid:
    """The grid of a parameter file, read and checked by the energy model's loader."""
    from .energy import EnergyParams
    return EnergyParams.load(path).grid
