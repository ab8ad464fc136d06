"""PL clock control: set by divisor pair from the board's precomputed table, read back, never
above the board's timing-closed maximum. `pynq` is imported only by PynqClock."""
from __future__ import annotations

import bisect

from edgebert.core.errors import InputError
from edgebert.runtime.boards import Board


class ClockError(InputError):
    """An unreachable, out-of-range, or unconfirmed clock."""


class Clock:
    """The clock of a simulated board: the same table and checks, no hardware."""

    def __init__(self, board: Board):
        self.board = board
        self.mhz = board.default_mhz if board.default_mhz in board.clock_table else board.top_clock
        self.switches = 0

    def at_least(self, mhz: float) -> float | None:
        """The lowest reachable clock >= mhz, or None when even the maximum is slower."""
        clocks = self.board.clocks
        i = bisect.bisect_left(clocks, mhz - 1e-9)
        return clocks[i] if i < len(clocks) else None

    def set(self, mhz: float) -> float:
        """Switch to a reachable clock; returns the clock read back. No-op when already there."""
        table = self.board.clock_table
        if mhz > self.board.fmax_mhz + 1e-9:
            raise ClockError(f"{mhz:.3f} MHz is above {self.board.name}'s timing-closed maximum "
                             f"{self.board.fmax_mhz:.3f} MHz")
        key = round(mhz, 3)
        if key not in table:
            near = self.at_least(mhz)
            raise ClockError(f"{mhz:.3f} MHz is not reachable on {self.board.name} "
                             f"(PLL {self.board.pll_mhz} MHz / divisor pairs); nearest above: {near}")
        if key == self.mhz:
            return self.mhz
        actual = self._write(key, *table[key])
        if abs(actual - key) > 0.01:
            raise ClockError(f"asked for {key} MHz, the board reads back {actual} MHz")
        self.mhz = key
        self.switches += 1
        return self.mhz

    def _write(self, mhz: float, div0: int, div1: int) -> float:
        return mhz


class PynqClock(Clock):
    """fclk0 of a Zynq PS through pynq: one divisor-register write, then a read-back."""

    def __init__(self, board: Board, index: int = 0):
        from pynq.ps import Clocks
        self._clocks = Clocks
        self.index = index
        super().__init__(board)
        self.mhz = round(float(getattr(Clocks, f"fclk{index}_mhz")), 3)

    def _write(self, mhz: float, div0: int, div1: int) -> float:
        self._clocks.set_pl_clk(self.index, div0=div0, div1=div1)
        return round(float(getattr(self._clocks, f"fclk{self.index}_mhz")), 3)
