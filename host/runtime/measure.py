"""Measured energy on a board: windows of many sentences at each PL clock, the power source
sampled while they run and while the accelerator idles, idle power subtracted.

Sensors are too slow for one sentence (docs/design.md section 8.2), so each window runs `sentences`
sentences (phase 1 and phase 2 with early exit, at one clock) and its energy per sentence is
(P_active - P_idle) x window time / sentences. The result sits beside the 12 nm projection in
the report (`edgebert report --measured`).
"""
from __future__ import annotations

import time

import numpy as np

from edgebert.accel import images
from edgebert.core.errors import InputError
from edgebert.runtime.power import PowerError, PowerSource, measure_window


def sweep_clocks(board, clocks: list[float] | None = None) -> list[float]:
    """The PL clocks to measure at: `clocks` when all are reachable on the board, else four of
    the board's spread from the top down."""
    chosen = clocks or board.clocks[-1::-max(1, len(board.clocks) // 8)][:4]
    bad = [c for c in chosen if round(c, 3) not in board.clock_table]
    if bad:
        raise InputError(f"{bad} MHz not reachable on {board.name}; reachable: {board.clocks[-8:]} ...")
    return chosen


def power_sweep(backend, task, items, clocks, source: PowerSource, sentences: int = 200,
                idle_s: float = 2.0, progress=None) -> dict:
    """Per clock: idle and active power (W), window time, energy per sentence (mJ)."""
    if not items:
        raise ValueError("no sentences to measure with")
    backend.prepare(task)
    tokens = [images.token_words(it.encoded.ids, it.encoded.token_types) for it in items if it.encoded]
    thr, layers = task.threshold_q16, task.cfg.layers
    rows = []
    for mhz in clocks:
        backend.set_clock(mhz)
        idle_w, idle_t = measure_window(source, lambda: time.sleep(idle_s))
        done = [0]

        def work():
            for i in range(sentences):
                tok = tokens[i % len(tokens)]
                if not backend.phase1(tok, thr).exit_now:
                    backend.phase2(thr, layers)
                done[0] += 1

        active_w, active_t = measure_window(source, work)
        if idle_w is None or active_w is None:
            raise PowerError(f"the power source {source.name!r} gave no readings; "
                             "measurements need pmbus, hwmon or an external meter log")
        energy_mj = (active_w - idle_w) * active_t / done[0] * 1e3
        rows.append({"clock_mhz": mhz, "idle_w": idle_w, "active_w": active_w, "seconds": active_t,
                     "sentences": done[0], "energy_mj_per_sentence": energy_mj,
                     "idle_seconds": idle_t})
        if progress:
            progress(rows[-1])
    return {"board": backend.board.name, "task": task.name, "power_source": source.name,
            "sentences_per_window": sentences, "clocks": rows,
            "energy_mj_per_sentence_mean": float(np.mean([r["energy_mj_per_sentence"] for r in rows]))}
