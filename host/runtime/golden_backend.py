"""The CPU baseline backend: the golden model (edgebert.accel.golden, numpy) run on the host's
cores, what a user without the PL would do, behind the same `Backend` interface, stages and log
as the accelerator backends.

It answers each command as the accelerator does: phase 1 (embedding, layer 1, off-ramp 1, exit
gate, both predictors) keeps the hidden state, phase 2 continues the same sentence from layer 2
up to `stop_layer`, leaving at the first entropy below the threshold (-1: never), and runs once
per phase 1. Results are bit-exact with the C-simulation (the golden model's contract), and the
counters are those the C-simulation keeps: the cycle and MAC counters and the DDR words from the
cost model (edgebert.accel.cost, equal to the C-sim's counters for the board's array and build),
saturations and clock-gated MACs from the golden model's own counts. Cycles are the
accelerator's, at the board's clock: the log's latencies and energies are those the accelerator
would have; the host's own time is the records' `wall_ms`.

The board's build limits are kept as the C-simulation of that build keeps them: sentences up to
the build's EB_MAX_LEN, and a task that does not fit its buffers (dimensions, or more non-zero
weight codes than the bitmask-sparse store holds) is refused at load. Refusals raise
`GoldenBackendError` with the accelerator's status message.
"""
from __future__ import annotations

import numpy as np
from threadpoolctl import ThreadpoolController

from edgebert.accel import images
from edgebert.accel.builds import get_build, schedule_for
from edgebert.accel.golden import GoldenModel
from edgebert.accel.interface import (
    COUNTERS,
    LIMIT_DEFAULTS,
    EmbedHeader,
    PhaseResult,
    Status,
    reported_limits,
    status_message,
)
from edgebert.accel.numerics.fixed import Saturations
from edgebert.accel.resources import weight_store
from edgebert.core.errors import DeviceError
from edgebert.runtime.backend import Backend
from edgebert.runtime.boards import Board, get_board
from edgebert.runtime.clocks import Clock

# Matrices the weight store does not hold (dense tables of their own).
_TABLES = ("position", "token_type")


class GoldenBackendError(DeviceError):
    """A command the accelerator would refuse (its status message says why)."""

    def __init__(self, status: Status):
        super().__init__(status_message(status))
        self.status = status


class GoldenBackend(Backend):
    """The golden model on the host CPU, with the accelerator's counters for `board`'s build."""
    name = "golden"

    def __init__(self, board: str | Board = "sim"):
        board = get_board(board) if isinstance(board, str) else board
        super().__init__(board, Clock(board))
        # The macros of the board's build, as CSimBackend compiles it (the `sim` board: the defaults).
        defines = {"EB_N": board.array_n}
        if board.name != "sim":
            defines.update({k: v for k, v in get_build(board.name).defines.items() if k != "EB_N"})
        self.macros = {**LIMIT_DEFAULTS, **defines}
        self.limits = reported_limits(True, defines)          # what CSimBackend.limits reports
        self._code_capacity = weight_store(board.array_n, self.macros)["codes"]
        self._models: dict[str, tuple[GoldenModel, object, int]] = {}
        self._task_object = None            # the artifact task `prepare` is loading
        self._model = self._sched = None    # the loaded task's golden model and cost model
        self._max_len = 0                   # its longest sentence on this build
        self._tables = False
        self._embedding_image: np.ndarray | None = None
        self._p1 = self._s = None           # phase 1's state (on chip in the accelerator)
        self._blas = ThreadpoolController()

    # ---- loading: the images the accelerator would get; the golden model reads the task -------
    def prepare(self, task) -> dict[str, int]:
        """As `Backend.prepare` (the same images, the same bytes moved: what an accelerator would
        have moved); the golden model is built from the artifact task itself."""
        self._task_object = task
        try:
            return super().prepare(task)
        finally:
            self._task_object = None

    def _load_shared(self, image):
        self._tables = True

    def _load_task(self, name, image):
        self._model = self._sched = None
        self._p1 = None
        task = self._task_object
        if task is None or task.name != name:
            raise ValueError("GoldenBackend loads a task through prepare(task), which hands it the artifact task")
        if name not in self._models:
            codes = self._weight_codes(task)
            if not self._fits(task) or codes > self._code_capacity:
                raise GoldenBackendError(Status.IMAGE_TOO_LARGE)
            self._models[name] = (GoldenModel(task), schedule_for(task, self.board.name, self.board.array_n),
                                  min(task.cfg.max_len, self.limits["max_len"]))
        self._model, self._sched, self._max_len = self._models[name]

    def _place_embedding(self, image):
        self._embedding_image = image

    def _fits(self, task) -> bool:
        c, lim = task.cfg, self.limits
        return (c.embed_dim <= lim["max_e"] and c.hidden <= lim["max_h"] and c.heads <= lim["max_heads"]
                and c.ffn <= lim["max_ffn"] and c.layers <= lim["max_layers"] and c.num_labels <= lim["max_classes"]
                and c.type_vocab <= self.macros["EB_MAX_TYPES"])

    def _weight_codes(self, task) -> int:
        """Non-zero codes the weight store would hold (the off-ramps stay in DDR on some builds)."""
        ddr = self.limits["ramps_in_ddr"]
        return sum(int(np.count_nonzero(t.codes)) for name, t in task.matrices.items()
                   if name not in _TABLES and not (ddr and name.startswith("ramps.")))

    # ---- the two phases ----------------------------------------------------------------------
    def phase1(self, tokens, threshold):
        tokens = np.asarray(tokens, dtype=np.uint32)
        emb = self._embedding_image
        if emb is None or emb.size < len(EmbedHeader):
            raise GoldenBackendError(Status.BAD_EMBEDDING)
        self._p1 = None
        if not self._tables:
            raise GoldenBackendError(Status.NO_TABLES)
        if self._model is None:
            raise GoldenBackendError(Status.NO_TASK)
        if not 1 <= tokens.size <= self._max_len:
            raise GoldenBackendError(Status.BAD_LENGTH)
        g = self._model
        if int(emb[EmbedHeader.COLS]) != g.cfg.embed_dim:
            raise GoldenBackendError(Status.BAD_EMBEDDING)
        ids, types = (tokens & 0xFFFF).astype(np.int64), (tokens >> 16).astype(np.int64)
        if ids.max() >= int(emb[EmbedHeader.ROWS]) or types.max() >= g.cfg.type_vocab:
            raise GoldenBackendError(Status.BAD_TOKEN)
        g.sat = Saturations()
        with self._blas.limit(limits=1, user_api="blas"):
            p1, ops = g.phase1(ids, types, int(threshold))
        cost = self._sched.phase1(images.embedding_record_words(g.t.word_table, ids))
        self._p1, self._s = p1, int(ids.size)
        return PhaseResult(int(p1.exit_now), np.asarray(p1.logits, dtype=np.int64), {1: int(p1.entropy)},
                           _counters(cost, g.sat, ops), predicted_layer=int(p1.predicted_layer),
                           h1=int(p1.entropy), exit_now=bool(p1.exit_now),
                           predicted_binned=int(p1.predicted_binned))

    def phase2(self, threshold, stop_layer):
        if self._model is None:
            raise GoldenBackendError(Status.NO_TASK)
        if self._p1 is None:
            raise GoldenBackendError(Status.NO_PHASE1)
        if not 2 <= stop_layer <= self._model.cfg.layers:
            raise GoldenBackendError(Status.BAD_STOP_LAYER)
        p1, self._p1 = self._p1, None                  # the hidden state moves on: phase 2 runs once
        g = self._model
        g.sat = Saturations()
        with self._blas.limit(limits=1, user_api="blas"):
            logits, layer, ents, ops = g.phase2(p1, int(threshold), int(stop_layer))
        cost = self._sched.phase2(self._s, layer - 1)
        return PhaseResult(int(layer), np.asarray(logits, dtype=np.int64),
                           {l: int(h) for l, h in zip(range(2, layer + 1), ents)}, _counters(cost, g.sat, ops))

    def close(self):
        self._models.clear()
        self._model = self._sched = self._p1 = None
        self.reset()


def _counters(cost, sat: Saturations, ops) -> dict[str, int]:
    """The counters of one phase by the C-sim's names and order: the cost model's, with the
    golden model's saturation events and clock-gated MACs."""
    out = {k: int(cost.get(k, 0)) for k in COUNTERS}
    out["saturations"] = int(sum(sat.values()))
    out["gated_macs"] = int(ops["gated_macs"])
    return out
