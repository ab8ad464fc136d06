"""A timing-faithful device for measuring the host off-board.

The C-simulation computes a sentence far slower than the PL would, which hides the host's
share of a run. `TimedDevice` answers every phase with the C-simulation's result and holds the
call for the time the board would take: the phase's cycles (equal to the cycle model's) at the
clock set, and each clock switch for the board's switch time. Answers are remembered per
(task, tokens, threshold, stop layer): a first, untimed pass (`prime`) computes them, and a
measured pass then takes only the board's time. A phase whose answer is not remembered is
computed on the spot and counted in `overruns` (it cannot be held to the board's time).

While it holds, the device thread sleeps (the interpreter lock free for the host stages) until
its wake-up lateness before the end, then spins to the end.
"""
from __future__ import annotations

import time

import numpy as np

from edgebert.accel.interface import PhaseResult
from edgebert.runtime.backend import Backend

_slack: list[float] = []


def sleep_slack() -> float:
    """How late this machine wakes from a short sleep (median of a few, measured once)."""
    if not _slack:
        late = []
        for _ in range(15):
            t0 = time.perf_counter()
            time.sleep(2e-4)
            late.append(time.perf_counter() - t0 - 2e-4)
        _slack.append(max(sorted(late)[len(late) // 2], 0.0))
    return _slack[0]


def hold_until(deadline: float) -> None:
    """Wait until perf_counter() reaches `deadline`: asleep (the interpreter lock free for the
    host stages) until the machine's wake-up lateness before it, then spinning: giving the lock
    away for the last few microseconds would only cost a hand-over to get it back."""
    left = deadline - time.perf_counter() - sleep_slack()
    if left > 0:
        time.sleep(left)
    while time.perf_counter() < deadline:
        pass


class TimedDevice(Backend):
    """`inner`'s answers, at the board's pace. Shares `inner`'s board and clock."""
    name = "timed"

    def __init__(self, inner: Backend):
        super().__init__(inner.board, inner.clock)
        self.inner = inner
        self.staging_slots = inner.staging_slots
        self._answers: dict[tuple, PhaseResult] = {}
        self._sentence: tuple | None = None       # (phase-1 key, tokens) of the current sentence
        self._inner_sentence: tuple | None = None  # the sentence inner's state holds after phase 1
        self.overruns = 0

    # Loading is not timed: a run loads once, before its sentences.
    def prepare(self, task) -> dict[str, int]:
        moved = self.inner.prepare(task)
        self.task_name = task.name
        return moved

    def _load_shared(self, image):
        raise NotImplementedError("TimedDevice loads through inner.prepare")

    _load_task = _place_embedding = _load_shared

    def stage_tokens(self, words, slot):
        return self.inner.stage_tokens(words, slot)

    def set_clock(self, mhz: float) -> float:
        before = self.clock.mhz
        start = time.perf_counter()
        f = self.clock.set(mhz)
        if f != before:
            self._hold(start, self.board.clock_switch_us * 1e-6)
        return f

    def _hold(self, start: float, seconds: float) -> None:
        deadline = start + seconds
        if time.perf_counter() > deadline:
            self.overruns += 1
            return
        hold_until(deadline)

    def _phase_time(self, r: PhaseResult) -> float:
        return r.counters["cycles"] / (self.clock.mhz * 1e6)

    def phase1(self, tokens, threshold):
        start = time.perf_counter()
        key = (self.task_name, np.asarray(tokens).tobytes(), int(threshold))
        self._sentence = (key, tokens)
        r = self._answers.get(key)
        if r is None:
            r = self._answers[key] = self.inner.phase1(tokens, threshold)
            self._inner_sentence = key
        self._hold(start, self._phase_time(r))
        return r

    def phase2(self, threshold, stop_layer):
        start = time.perf_counter()
        if self._sentence is None:
            raise RuntimeError("phase 2 before any phase 1")
        key1, tokens = self._sentence
        key = (key1, int(threshold), int(stop_layer))
        r = self._answers.get(key)
        if r is None:
            if self._inner_sentence != key1:          # inner holds another sentence's state
                self.inner.phase1(tokens, key1[2])
            r = self._answers[key] = self.inner.phase2(threshold, stop_layer)
            self._inner_sentence = None
        self._hold(start, self._phase_time(r))
        return r

    def remembered(self) -> int:
        return len(self._answers)

    def close(self):
        self.inner.close()
