"""DVFS policies (latency-aware inference), named and compared side by side. Before phase 1
(embedding + layer 1 + off-ramp 1) the host picks phase 1's clock; after it, it knows H1, the
predicted exit layer L^ and the time used, and picks the stop layer and clock of phase 2.

    base       all layers, no early exit, top clock (both phases)
    ee         entropy exit, top clock (both phases)
    lai        EdgeBERT's scheme: phase 1 at the top clock, then the lowest clock that finishes
               layers 2..L^ (cycles from the cost model) within the target; stop at L^ at the
               latest (an earlier entropy exit still leaves)
    lai-slack  lai, but phase 1 also at the lowest clock that still leaves time for every
               remaining layer at the top clock (the worst case)
    lai-binned lai with this project's binned predictor (H1, length and layer-1 answer; fitted
               for the task's threshold) in place of EdgeBERT's table
    oracle     lai with the true exit layer in place of L^ (known only after phase 1: phase 1
               at the top clock); the runner measures it with an untimed reference pass
    bound      the true exit known before phase 1, and the cheapest assignment of operating
               points to the sentence's work that meets the target (for most sentences one
               point: the lowest that meets it): the lower bound. It needs the energy model, so
               it is a mode of the reports and the replay (edgebert.analysis.energy.
               lower_bound_energy over `operating_clocks`), not a policy the runner runs.

The clock floor is the board's maximum times f(Vmin) / f0: below it the ASIC has no lower
operating point. No mode lets the entropy carry a sentence past L^, so the clock of phase 2 never
needs time for layers after L^; lai-slack's phase 1 reserves the worst case. A sentence that the
all-layer run at the top clock finishes in time therefore finishes in time under every policy.
If no clock meets the target, the top clock is used and the miss recorded (`planned_miss`).
"""
from __future__ import annotations

from dataclasses import dataclass

from edgebert.accel.asic12nm import VfGrid, VfPoint
from edgebert.accel.cost import Schedule
from edgebert.runtime.clocks import Clock

POLICIES = ("base", "ee", "lai", "lai-slack", "lai-binned", "oracle")   # runnable: `edgebert run --policy`
MODES = POLICIES + ("bound",)                               # reported (bound re-projected)
PLAN_AT_PREDICTION = ("lai", "lai-slack", "lai-binned")
BINNED = ("lai-binned",)                                    # plan with the binned predictor


def predicted_for(policy: str, edgebert: int, binned: int) -> int:
    """The predicted exit layer a policy plans with."""
    return binned if policy in BINNED else edgebert


@dataclass(frozen=True)
class Decision:
    stop_layer: int
    mhz: float
    vf: VfPoint
    planned_miss: bool        # even the top clock cannot meet the target
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
    """The clock of phase 1: the top clock, except for lai-slack: the lowest clock with phase 1,
    two switches and all remaining layers at the top clock within the target."""
    top = clock.board.top_clock
    if policy != "lai-slack":
        return top
    switch_ms = clock.board.clock_switch_us / 1e3
    rest_ms = sched.phase2_cycles(tokens, layers - 1) / (top * 1e3)
    slack_ms = target_ms - rest_ms - 2 * switch_ms
    if slack_ms <= 0:
        return top
    mhz = clock.at_least(max(phase1_cycles / (slack_ms * 1e3), top * grid.min_ratio))
    return top if mhz is None else mhz


def phase2_plan(policy: str, clock: Clock, grid: VfGrid, sched: Schedule, tokens: int, layers: int,
                predicted: int, true_exit: int | None, used_ms: float, target_ms: float,
                current_mhz: float | None = None) -> Decision:
    """Stop layer and clock of phase 2 for one sentence that did not leave at layer 1. `used_ms`
    is the time so far; `current_mhz` the clock phase 1 ran at (default: top). Staying at the
    current clock costs no switch time."""
    top = clock.board.top_clock
    current = top if current_mhz is None else current_mhz
    if policy in ("base", "ee"):
        return Decision(layers, top, vf_point(grid, clock, top), False, 0)
    stop = max(predicted if policy in PLAN_AT_PREDICTION else int(true_exit), 2)
    remaining = sched.phase2_cycles(tokens, stop - 1)
    switch_ms = clock.board.clock_switch_us / 1e3
    floor = top * grid.min_ratio
    options = []
    slack_ms = target_ms - used_ms - switch_ms
    if slack_ms > 0:
        mhz = clock.at_least(max(remaining / (slack_ms * 1e3), floor))
        if mhz is not None:
            options.append(mhz)
    if used_ms + remaining / (current * 1e3) <= target_ms + 1e-12:
        options.append(current)
    if not options:
        return Decision(stop, top, vf_point(grid, clock, top), True, remaining)
    mhz = min(options)
    return Decision(stop, mhz, vf_point(grid, clock, mhz), False, remaining)


def operating_clocks(clock: Clock, grid: VfGrid) -> list[float]:
    """The fastest reachable clock of each ASIC operating point at or above the floor: the
    candidates of the `bound` mode (a slower clock of the same point costs time, not energy)."""
    top = clock.board.top_clock
    best: dict[float, float] = {}
    for mhz in clock.board.clocks:
        if top * grid.min_ratio - 1e-9 <= mhz <= top:
            v = vf_point(grid, clock, mhz).volts
            best[v] = max(best.get(v, 0.0), mhz)
    return sorted(best.values())

