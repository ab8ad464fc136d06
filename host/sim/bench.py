"""Benchmarks on the C-simulation: dev-set throughput, and the host's cost per sentence step by
step. They measure and return figures; nothing here asserts a speed."""
from __future__ import annotations

import json
import time

import numpy as np

from edgebert.accel import images
from edgebert.accel.asic12nm import load_grid
from edgebert.accel.cost import Schedule
from edgebert.core.tokenization import Tokenizer
from edgebert.runtime.boards import Board
from edgebert.runtime.policy import phase2_plan
from edgebert.sim.backend import CSimBackend
from edgebert.sim.csim import build_library, load_accelerator, run_sentence

HOST_STEPS = ("tokenize", "pack", "phase1", "decision", "clock_switch", "phase2", "unpack")


def csim_throughput(hw, encoded, labels, policy: str = "ee") -> dict:
    """Sentences per second with early exit; the library build is timed apart (cached builds
    take no time)."""
    t0 = time.perf_counter()
    build_library("native")
    build_s = time.perf_counter() - t0
    acc = load_accelerator(hw, "native")
    tokens = [images.token_words(e.ids, e.token_types) for e in encoded]
    correct, exits = 0, 0
    t0 = time.perf_counter()
    for tok, label in zip(tokens, labels):
        run = run_sentence(acc, tok, hw.threshold_q16, hw.cfg.layers, policy)
        correct += int(np.argmax(run.logits)) == label
        exits += run.exit_layer
    wall = time.perf_counter() - t0
    n = len(encoded)
    return {"sentences": n, "wall_s": round(wall, 3), "sentences_per_s": round(n / wall, 2),
            "build_s": round(build_s, 2), "accuracy": correct / n, "avg_exit_layer": exits / n,
            "array_n": acc.limits["n"]}


def host_steps(hw, board: Board, examples) -> dict:
    """Per-step host cost per sentence (FINN-driver style), medians in microseconds: tokenize,
    pack, transfer + compute, DVFS decision, clock switch, unpack."""
    tok = Tokenizer(hw.cfg.max_len)
    grid, sched = load_grid(), Schedule(hw.cfg, board.array_n, len(hw.live_heads)).warm()
    steps = {k: [] for k in HOST_STEPS}
    with CSimBackend(board) as be:
        be.prepare(hw)
        clocks = be.board.clocks
        t = time.perf_counter
        for i, ex in enumerate(examples):
            t0 = t(); enc = tok.encode(ex.text_a, ex.text_b, warn=False); t1 = t()
            words = images.token_words(enc.ids, enc.token_types); t2 = t()
            p1 = be.phase1(words, hw.threshold_q16); t3 = t()
            plan = phase2_plan("lai", be.clock, grid, sched, len(enc.ids), hw.cfg.layers,
                               p1.predicted_layer, None, 0.2, board.default_target_ms); t4 = t()
            be.set_clock(clocks[i % 2 - 2]); t5 = t()         # alternate between two clocks
            p2 = be.phase2(hw.threshold_q16, plan.stop_layer) if not p1.exit_now else p1; t6 = t()
            json.dumps({"logits": [int(v) for v in p2.logits], "counters": p2.counters}); t7 = t()
            for k, a, b in zip(steps, (t0, t1, t2, t3, t4, t5, t6), (t1, t2, t3, t4, t5, t6, t7)):
                steps[k].append((b - a) * 1e6)
    return {**{f"{k}_us_median": round(float(np.median(v)), 2) for k, v in steps.items()},
            "decision_us_max": round(float(np.max(steps["decision"])), 2)}
