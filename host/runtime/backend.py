"""Accelerator backends behind one interface: the C-simulation (ctypes) and the board (pynq).

A backend keeps what is on the accelerator: the shared function tables (once), the embedding
table in DDR (once; tasks of one artifact share it) and the current task's weights. Switching
task moves only the task image; `prepare` reports the bytes each call moved.
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod

import numpy as np

from edgebert.accel import images
from edgebert.accel.interface import PhaseResult
from edgebert.runtime.boards import Board
from edgebert.runtime.clocks import Clock


def _embedding_key(task) -> str:
    w = task.word_table
    return hashlib.sha256(w.codes.tobytes() + bytes([w.bias])).hexdigest()


class Backend(ABC):
    name = "backend"
    staging_slots = 2      # token buffers a pipelined run fills ahead of the device (double buffering)

    def __init__(self, board: Board, clock: Clock):
        self.board, self.clock = board, clock
        self.task_name: str | None = None
        self._tables_key = self._embedding = None
        self._images: dict[str, np.ndarray] = {}

    # ---- what subclasses provide ----
    @abstractmethod
    def _load_shared(self, image: np.ndarray) -> None: ...

    @abstractmethod
    def _load_task(self, name: str, image: np.ndarray) -> None: ...

    @abstractmethod
    def _place_embedding(self, image: np.ndarray) -> None: ...

    @abstractmethod
    def phase1(self, tokens: np.ndarray, threshold: int) -> PhaseResult: ...

    @abstractmethod
    def phase2(self, threshold: int, stop_layer: int) -> PhaseResult: ...

    def close(self) -> None:
        pass

    def stage_tokens(self, words: np.ndarray, slot: int):
        """Put a sentence's token words where phase 1 reads them, in staging slot `slot`
        (0 .. staging_slots - 1); returns what `phase1` takes. Here the words themselves; the
        board writes them into a device buffer allocated once."""
        return words

    # ---- shared bookkeeping ----
    def prepare(self, task) -> dict[str, int]:
        """Make `task` the loaded one; returns the bytes moved (0 for what was already there)."""
        moved = {"shared_bytes": 0, "embedding_bytes": 0, "task_bytes": 0}
        tables_key = hashlib.sha256(b"".join(np.asarray(task.tables[n]).tobytes()
                                             for n in images.TABLE_ORDER)).hexdigest()
        if tables_key != self._tables_key:
            image = images.shared_image(task.tables)
            self._load_shared(image)
            self._tables_key, moved["shared_bytes"] = tables_key, image.nbytes
        emb_key = _embedding_key(task)
        if emb_key != self._embedding:
            image = images.embedding_image(task.word_table)
            self._place_embedding(image)
            self._embedding, moved["embedding_bytes"] = emb_key, image.nbytes
        if task.name != self.task_name:
            if task.name not in self._images:
                self._images[task.name] = images.task_image(task)
            self._load_task(task.name, self._images[task.name])
            self.task_name, moved["task_bytes"] = task.name, self._images[task.name].nbytes
        return moved

    def set_clock(self, mhz: float) -> float:
        return self.clock.set(mhz)

    def reset(self) -> None:
        """Forget what is loaded: the next `prepare` loads everything again."""
        self.task_name = self._tables_key = self._embedding = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


