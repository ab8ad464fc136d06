"""The runtime's accelerator backend on the C-simulation (ctypes over the g++-built library)."""
from __future__ import annotations

from edgebert.runtime.backend import Backend
from edgebert.runtime.boards import Board, get_board
from edgebert.runtime.clocks import Clock
from edgebert.sim.csim import CSimAccelerator


class CSimBackend(Backend):
    """The accelerator in C-simulation, on a simulated board's clock tree."""
    name = "csim"

    def __init__(self, board: str | Board = "sim", variant: str = "native"):
        board = get_board(board) if isinstance(board, str) else board
        super().__init__(board, Clock(board))
        defines = None
        if board.name != "sim":                 # the board's own build: array, limits, DDR off-ramps
            from edgebert.accel.builds import get_build
            defines = {k: v for k, v in get_build(board.name).defines.items() if k != "EB_N"}
        self.acc = CSimAccelerator(variant, board.array_n, defines=defines)
        self.limits = self.acc.limits

    def _load_shared(self, image):
        self.acc.load_shared(image)

    def _load_task(self, name, image):
        self.acc.load_task(image)

    def _place_embedding(self, image):
        self.acc.set_embedding(image)

    def phase1(self, tokens, threshold):
        return self.acc.phase1(tokens, threshold)

    def phase2(self, threshold, stop_layer):
        return self.acc.phase2(threshold, stop_layer)

    def close(self):
        self.acc.close()
