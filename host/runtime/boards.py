"""Boards as data: part, PS PLL, the PL clocks its divisors reach, the timing-closed maximum, the
accelerator build it carries (array size, buffer limits), and where its power can be read.

Reachable PL clocks are PLL / (d0 d1) with 1 <= d0, d1 <= 63 (Zynq PS clock dividers; REFERENCE
section 3). The maximum is the clock the board's build is constrained to (hls/tcl/boards.tcl);
a bitstream folder that carries `timing.json` with a measured `fmax_mhz` lowers it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

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
    clock_switch_us: float    # one divisor write (REFERENCE section 3: ~6 us)
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


BOARDS = {
    "zcu104": Board("zcu104", "xczu7ev-ffvc1156-2-e", 1500.0, _timing_fmax("zcu104", 200.0), 100.0, 16,
                    "edge", "pmbus", "PYNQ 3.1 / 4.0", 6.0, 6.0),
    "kv260": Board("kv260", "xck26-sfvc784-2LV-c", 1500.0, _timing_fmax("kv260", 200.0), 100.0, 16,
                   "edge", "hwmon", "Kria-PYNQ", 6.0, 6.0),
    "pynq-z2": Board("pynq-z2", "xc7z020clg400-1", 1000.0, _timing_fmax("pynq-z2", 100.0), 100.0, 8,
                     "tiny", "external", "PYNQ 3.1 (pynq==3.1.2)", 30.0, 6.0),
    # The C-simulation: a ZU+-like clock tree, no power sensor.
    "sim": Board("sim", "c-simulation", 1500.0, 200.0, 200.0, 16, "paper", "none", "-", 6.0, 6.0,
                 note="C-simulation; clocks as on a Zynq UltraScale+ PS"),
}


def get_board(name: str) -> Board:
    if name not in BOARDS:
        raise InputError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)}")
    return BOARDS[name]
