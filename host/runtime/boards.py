"""Boards as data: part, PS PLL, the PL clocks its divisors reach, the timing-closed maximum, the
accelerator build it carries (array size, buffer limits), and where its power can be read.

The facts are those of the board table model_export/accel/boards.json (edgebert.accel.builds
reads it; its "fields" entry names each fact's source). Reachable PL clocks are PLL / (d0 d1)
with 1 <= d0, d1 <= 63 (Zynq PS clock dividers; docs/design.md section 8.2). The maximum is the clock
the board's build is constrained to (1000 / clock_ns); a bitstream folder that carries
`timing.json` with a measured `fmax_mhz` lowers it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

from edgebert.accel.builds import board_facts
from edgebert.core.errors import InputError
from edgebert.core.paths import REPO_ROOT

BITSTREAMS = REPO_ROOT / "bitstreams"
MAX_DIVISOR = 63


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    pll_mhz: float            # PS PLL feeding the PL clock dividers
    fmax_mhz: float           # timing-closed maximum of the accelerator build
    default_mhz: float        # the clock the overlay comes up with
    array_n: int              # MAC array of the build (EB_N)
    model_config: str         # largest model config whose task fits the build's buffers
    power: str                # pmbus, hwmon, external or none
    pynq: str                 # PYNQ image / package line
    default_target_ms: float  # documented default latency target (SST-2 sized, see docs/host.md)
    clock_switch_us: float    # one divisor write (docs/design.md section 8.2: ~6 us)
    note: str = ""
    fmin_mhz: float = 10.0    # below this the policy never goes

    @cached_property
    def clock_table(self) -> dict[float, tuple[int, int]]:
        """Every reachable clock in [fmin, fmax] (MHz, rounded to 1 kHz) -> its divisor pair
        (the pair with the smallest first divisor)."""
        table: dict[float, tuple[int, int]] = {}
        for d0 in range(1, MAX_DIVISOR + 1):
            for d1 in range(1, MAX_DIVISOR + 1):
                f = round(self.pll_mhz / (d0 * d1), 3)
                if self.fmin_mhz <= f <= self.fmax_mhz + 1e-9 and f not in table:
                    table[f] = (d0, d1)
        return dict(sorted(table.items()))

    @cached_property
    def clocks(self) -> list[float]:
        return list(self.clock_table)

    @property
    def top_clock(self) -> float:
        return self.clocks[-1]


def _timing_fmax(name: str, planned: float) -> float:
    path = BITSTREAMS / name / "timing.json"
    if path.is_file():
        return min(planned, float(json.loads(path.read_text())["fmax_mhz"]))
    return planned


def _board(name: str, f: dict) -> Board:
    return Board(name, f["part"], float(f["pll_mhz"]), _timing_fmax(name, 1000.0 / f["clock_ns"]),
                 float(f["default_mhz"]), int(f["n"]), f["model_config"], f["power"], f["pynq"],
                 float(f["default_target_ms"]), float(f["clock_switch_us"]), f.get("note", ""))


BOARDS = {name: _board(name, f) for name, f in board_facts().items()}


def get_board(name: str) -> Board:
    if name not in BOARDS:
        raise InputError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)}")
    return BOARDS[name]
