"""Early stopping for a multi-objective search: successive halving's rungs with a Pareto rule in
place of a ranking by one metric (after MO-ASHA, Schmucker et al. 2021). ASHA stops a trial at a
rung unless its metric is in the top half of those recorded there; here a trial stops at a rung
when its p99 latency misses the target, or when at least half of the trials recorded at that
rung dominate it in (accuracy, latency, energy). Trials that trade accuracy for latency or energy
then run to the end, and the front has more than its most accurate point."""
from __future__ import annotations

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from edgebert.search.pareto import dominates


def rungs(reports: int, grace: int = 2, factor: int = 2) -> list[int]:
    """Report numbers at which trials are compared: grace, grace x factor, ... up to `reports`."""
    out, r = [], grace
    while r <= reports:
        out.append(r)
        r *= factor
    return out


class ParetoRungs(FIFOScheduler):
    def __init__(self, at: list[int], keep: float = 0.5):
        super().__init__()
        self.at, self.keep = set(at), keep
        self.recorded: dict[int, list[dict]] = {r: [] for r in at}

    def decide(self, rung: int, point: dict) -> str:
        seen = self.recorded[rung]
        seen.append(point)
        if not point["meets_target"]:
            return TrialScheduler.STOP
        beaten_by = sum(dominates(q, point) for q in seen if q is not point)
        return TrialScheduler.STOP if beaten_by >= self.keep * len(seen) else TrialScheduler.CONTINUE

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        rung = result.get("training_iteration")
        if rung not in self.at or result.get("phase") != "stage1":
            return TrialScheduler.CONTINUE
        return self.decide(rung, {k: result[k] for k in ("accuracy", "latency_ms", "energy_uj", "meets_target")})

    def debug_string(self) -> str:
        return f"ParetoRungs at reports {sorted(self.at)}: " + ", ".join(
            f"{r}: {len(v)} recorded" for r, v in sorted(self.recorded.items()))
