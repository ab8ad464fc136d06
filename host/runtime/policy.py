"""DVFS policies (latency-aware inference). Before phase 1 the host picks the lowest clock that
still leaves time for every remaining layer at the top clock (the worst case); after phase 1 it
knows H1, the predicted exit layer L^ and the time phase 1 took, and picks the clock for phase 2.

    base    all layers, no early exit, maximum clock (both phases)
    ee      early exit, maximum clock (both phases)
    lai     stop at L^ at the latest (EdgeBERT), at the lowest clock that finishes the remaining
            L^ - 1 layers (cycles from the cost model) within the target
    oracle  like lai, but with the true exit layer in place of L^

The clock floor is the board's maximum times f(Vmin) / f0: below it the ASIC has no lower
operating point. If no clock meets the target, the maximum is used and the miss recorded.
"""
from __future__ import annotations

from dataclasses import dataclass

from edgebert.accel.asic12nm import VfGrid, VfPoint
from edgebert.accel.cost import Schedule
from edgebert.runtime.clocks import Clock

POLICIES = ("base", "ee", "lai", "oracle")


@dataclass(frozen=True)
class Decision:
    stop_layer: int
    mhz: float
    vf: VfPoint
    planned_miss: bool        # even the maximum clock cannot meet the target
    remaining_cycles: int


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose from {', '.join(POLICIES)}")
    return policy


def vf_point(grid: VfGrid, clock: Clock, mhz: float) -> VfPoint:
    """The ASIC operating point standing for a board clock."""
    return grid.point_for(mhz / clock.board.top_clock)


def phase1_clock(policy: str, clock: Clock, grid: VfGrid, sched: Schedule, phase1_cycles: int,
                 tokens: int, layers: int, target_ms: float) -> float:
    """The clock of phase 1: the top clock for base and ee; for lai and oracle the lowest clock
    with phase 1 + a switch + all remaining layers at the top clock within the target."""
    top = clock.board.top_clock
    if policy in ("base", "ee"):
        return top
    switch_ms = clock.board.clock_switch_us / 1e3
    rest_ms = sched.phase2_cycles(tokens, layers - 1) / (top * 1e3)
    slack_ms = target_ms - rest_ms - 2 * switch_ms
    if slack_ms <= 0:
        return top
    mhz = clock.at_least(max(phase1_cycles / (slack_ms * 1e3), top * grid.min_ratio))
    return top if mhz is None else mhz


def phase2_plan(policy: str, clock: Clock, grid: VfGrid, sched: Schedule, tokens: int, layers: int,
                predicted: int, true_exit: int | None, used_ms: float, target_ms: float) -> Decision:
    """Stop layer and clock of phase 2 for one sentence that did not leave at layer 1."""
    top = clock.board.top_clock
    if policy in ("base", "ee"):
        return Decision(layers, top, vf_point(grid, clock, top), False, 0)
    stop = max(predicted if policy == "lai" else int(true_exit), 2)
    remaining = sched.phase2_cycles(tokens, stop - 1)
    switch_ms = clock.board.clock_switch_us / 1e3
    slack_ms = target_ms - used_ms - switch_ms
    need = remaining / (slack_ms * 1e3) if slack_ms > 0 else float("inf")     # MHz
    floor = top * grid.min_ratio
    mhz = clock.at_least(max(need, floor))
    if mhz is None:
        return Decision(stop, top, vf_point(grid, clock, top), True, remaining)
    return Decision(stop, mhz, vf_point(grid, clock, mhz), False, remaining)
