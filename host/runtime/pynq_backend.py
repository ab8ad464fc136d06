"""The board backend: the accelerator overlay through PYNQ.

The overlay is loaded (and downloaded) once, at construction; the sentence loop only writes
registers and buffers. Registers are found by name in the overlay's `.hwh` register map (never
by hard-coded offsets); pointers are physical addresses of buffers from `pynq.allocate`,
allocated once (the results and token buffers) or once per image (the shared tables, each
task's image, the embedding table). `pynq` is imported here only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgebert.accel.interface import (
    RESULT_WORDS,
    Command,
    TaskHeader,
    decode_phase1,
    decode_phase2,
    status_message,
)
from edgebert.core.errors import DeviceError
from edgebert.runtime.backend import Backend
from edgebert.runtime.boards import Board, get_board
from edgebert.runtime.clocks import Clock, PynqClock

SCALARS = ("cmd", "image_words", "length", "threshold", "stop_layer")
POINTERS = ("image", "embedding", "tokens", "results")
MAX_TOKENS = 1024


class OverlayError(DeviceError):
    """A missing, unreadable or wrong overlay (no EdgeBERT accelerator in it)."""


class AcceleratorTimeout(DeviceError):
    """The accelerator did not raise ap_done in time."""


class AcceleratorError(DeviceError):
    """The accelerator refused a command (its status names why)."""


@dataclass(frozen=True)
class _Staged:
    """A sentence's token words already in a staging slot's device buffer."""
    slot: int
    words: int


class PynqBackend(Backend):
    name = "pynq"

    def __init__(self, board: str | Board, overlay: str | Path, device=None, clock: Clock | None = None,
                 timeout_s: float = 5.0, download: bool = True):
        import pynq
        board = get_board(board) if isinstance(board, str) else board
        path = Path(overlay)
        if not path.is_file():
            raise OverlayError(f"overlay bitstream {path} not found")
        if not path.with_suffix(".hwh").is_file():
            raise OverlayError(f"overlay {path} has no hardware handoff {path.with_suffix('.hwh').name} beside it")
        try:
            self.overlay = pynq.Overlay(str(path), download=download, device=device)
        except Exception as e:                      # pynq raises many kinds; name the file
            raise OverlayError(f"cannot load overlay {path}: {e}") from e
        ips = [name for name, d in self.overlay.ip_dict.items() if "edgebert_top" in str(d.get("type", ""))]
        if not ips:
            raise OverlayError(f"overlay {path} has no edgebert_top accelerator (its IPs: {', '.join(self.overlay.ip_dict)})")
        self.ip = getattr(self.overlay, ips[0])
        self.regs = self.ip.register_map
        self._check_registers(path)
        self.device = device if device is not None else pynq.Device.active_device
        self.timeout_s = timeout_s
        self._pynq = pynq
        self.results = pynq.allocate((RESULT_WORDS,), np.uint32, target=self.device)
        # One token buffer per staging slot: a pipelined run packs the next sentence into one
        # while the accelerator reads the other (double buffering); allocated once.
        self.token_slots = [pynq.allocate((MAX_TOKENS,), np.uint32, target=self.device)
                            for _ in range(self.staging_slots)]
        self.tokens = self.token_slots[0]
        self._buffers: dict[str, object] = {}
        self.classes = 0
        super().__init__(board, clock or PynqClock(board))

    # ---- registers ----
    def _check_registers(self, path: Path) -> None:
        names = set(self.regs._register_classes)          # the .hwh's registers, by name
        self.addr64 = "image_1" in names
        want = ["CTRL", "ap_return", *SCALARS] + [f"{p}_1" if self.addr64 else p for p in POINTERS]
        missing = [n for n in want if n not in names]
        if missing:
            raise OverlayError(f"overlay {path}: the accelerator lacks registers {missing}; "
                               "it was built from another interface")

    def _set_pointer(self, name: str, buf) -> None:
        addr = int(buf.physical_address)
        if self.addr64:
            setattr(self.regs, f"{name}_1", addr & 0xFFFFFFFF)
            setattr(self.regs, f"{name}_2", addr >> 32)
        else:
            setattr(self.regs, name, addr)

    def _buffer(self, key: str, image: np.ndarray):
        """A device buffer holding `image` (allocated once per key, rewritten when it changes)."""
        buf = self._buffers.get(key)
        if buf is None or buf.shape != image.shape:
            buf = self._pynq.allocate(image.shape, np.uint32, target=self.device)
            self._buffers[key] = buf
        buf[:] = image
        buf.flush()
        return buf

    def _run(self, cmd: int, image_words: int = 0, length: int = 0, threshold: int = 0, stop_layer: int = 0) -> np.ndarray:
        r = self.regs
        r.cmd, r.image_words, r.length = int(cmd), image_words, length
        r.threshold, r.stop_layer = threshold & 0xFFFFFFFF, stop_layer
        self._set_pointer("results", self.results)
        self._set_pointer("tokens", self.tokens)
        r.CTRL.AP_START = 1
        deadline = time.perf_counter() + self.timeout_s
        while not r.CTRL.AP_DONE:
            time.sleep(0)             # between polls the interpreter lock goes to the host stages
            if time.perf_counter() > deadline:
                raise AcceleratorTimeout(f"the accelerator did not finish command {cmd} within {self.timeout_s} s "
                                         "(ap_done never rose); the run log is intact, rerun to resume")
        status = int(r.ap_return)
        if status:
            raise AcceleratorError(status_message(status))
        self.results.invalidate()
        return np.array(self.results, dtype=np.uint32)

    # ---- Backend ----
    def _load_shared(self, image):
        self._set_pointer("image", self._buffer("shared", image))
        self._run(Command.LOAD_SHARED, image.size)

    def _load_task(self, name, image):
        self._set_pointer("image", self._buffer(f"task:{name}", image))
        self._run(Command.LOAD_TASK, image.size)
        self.classes = int(image[TaskHeader.CLASSES])

    def _place_embedding(self, image):
        self._set_pointer("embedding", self._buffer("embedding", image))

    def _point_at_task(self) -> None:
        """Builds with the off-ramps in DDR read them from the loaded task's image."""
        buf = self._buffers.get(f"task:{self.task_name}")
        if buf is not None:
            self._set_pointer("image", buf)

    def stage_tokens(self, words, slot):
        """The words written to slot `slot`'s device buffer and flushed; phase 1 points there."""
        n = len(words)
        if not 0 < n <= MAX_TOKENS:
            raise ValueError(f"sentence of {n} tokens: the token buffer holds 1..{MAX_TOKENS}")
        buf = self.token_slots[slot]
        buf[:n] = words
        buf.flush()
        return _Staged(slot, n)

    def phase1(self, tokens, threshold):
        staged = tokens if isinstance(tokens, _Staged) else self.stage_tokens(tokens, 0)
        n = staged.words
        self.tokens = self.token_slots[staged.slot]
        self._point_at_task()
        return decode_phase1(self._run(Command.PHASE1, length=n, threshold=threshold), self.classes)

    def phase2(self, threshold, stop_layer):
        self._point_at_task()
        return decode_phase2(self._run(Command.PHASE2, threshold=threshold, stop_layer=stop_layer), self.classes)

    def close(self):
        for buf in [self.results, *self.token_slots, *self._buffers.values()]:
            try:
                buf.freebuffer()
            except Exception:
                pass
        self._buffers.clear()
