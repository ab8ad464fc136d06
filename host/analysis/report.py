"""Reports: run logs (JSONL from `edgebert run`) through the 12 nm projection into a Markdown
report with PNG plots and a JSON summary comparing the modes base, ee, lai, lai-slack,
lai-binned, oracle and bound (edgebert.runtime.policy), with each ratio against lai split into fewer layers x lower
voltage (edgebert.analysis.replay.decomposition).

A mode's figures come from its own log. A mode without a log (oracle and bound always; lai-slack
when only lai ran), and every mode at other latency targets, is re-projected from a log that
holds each sentence's predicted and true exit layers: the cycles of any plan follow from the cost
model, which equals the measured counters exactly, and its gated MACs (data-dependent) come from
the log that ran the sentence that far (`LoggedWork`). Energies include the V/F switches and the
idle power from a sentence's end to its deadline (ASIC time: target x top clock / f0).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgebert.accel.artifact import load_artifact
from edgebert.accel.asic12nm import EnergyParams
from edgebert.accel.builds import schedule_for
from edgebert.accel.checksum import artifact_dir, find_artifact
from edgebert.accel.cost import Schedule
from edgebert.accel.energy import (
    BREAKDOWN,
    asic_deadline_ms,
    idle_energy_uj,
    phase_energy,
    project,
    switch_energy_uj,
)
from edgebert.analysis import report_plots
from edgebert.analysis.energy import lower_bound_energy
from edgebert.analysis.replay import decomposition
from edgebert.core.errors import InputError
from edgebert.core.paths import DEFAULT_MODEL_DIR
from edgebert.runtime.boards import get_board
from edgebert.runtime.clocks import Clock
from edgebert.runtime.inputs import is_sentence
from edgebert.runtime.policy import MODES, operating_clocks, phase1_clock, phase2_plan, predicted_for, vf_point
from edgebert.runtime.runner import log_header

# Modes re-projected when no log of theirs is given, and the log whose accuracy they share.
REPROJECTED = {"lai-slack": "lai", "oracle": "ee", "bound": "ee"}


class ReportError(InputError):
    """Run logs that cannot be reported together (missing, corrupt, or of different tasks)."""


def load_run(path: Path) -> tuple[dict, list[dict]]:
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"run log {path} not found")
    lines = path.read_text(encoding="utf-8").splitlines()
    head = log_header(lines)
    if head is None:
        raise ReportError(f"{path} is not an edgebert run log")
    records = []
    for line in lines[1:]:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue                                     # a record cut short by a kill
        if is_sentence(rec):
            records.append(rec)
    return head["run"], records


# ---- projection of one sentence ------------------------------------------------------------------
class LoggedWork:
    """The accelerator's own phase-2 counters of a sentence run to a given layer, taken from
    whichever log ran it that far, so that a re-projection charges the gated MACs the hardware
    counted for the same work (cycles and MACs equal the cost model's; gated MACs depend on the
    data). Work that no log ran comes from the cost model, its gated MACs at the fraction the
    sentence's logged phase 2 showed (0 without one)."""

    def __init__(self, sched: Schedule, logs=()):
        self.sched, self.logged, self.fraction = sched, {}, {}
        for records in logs:
            for r in records:
                if "phase2" in r:
                    c = r["phase2"]["counters"]
                    self.logged[(r["id"], r["exit_layer"] - 1)] = c
                    if c.get("macs"):
                        self.fraction.setdefault(r["id"], c.get("gated_macs", 0) / c["macs"])

    def phase2(self, rec: dict, layers2: int) -> dict:
        c = self.logged.get((rec.get("id"), layers2))
        if c is not None:
            return c
        c = dict(self.sched.phase2(rec["tokens"], layers2))
        c["gated_macs"] = int(c["macs"] * self.fraction.get(rec.get("id"), 0.0))
        return c


def _sentence(p, sched, s, c1, v1, layers2, c2, v2, switches, board_ms, target_ms, deadline_ms) -> dict:
    e1, a1 = phase_energy(p, sched, s, 1, True, c1, v1)
    ops, asic = dict(e1), a1
    if layers2 > 0:
        e2, a2 = phase_energy(p, sched, s, layers2, False, c2, v2)
        ops = {k: ops[k] + e2[k] for k in ops}
        asic += a2
    asic += switches * p.t_switch_ns * 1e-6
    ops["switch"] = switch_energy_uj(p, switches)
    ops["idle"] = float(idle_energy_uj(p, deadline_ms - asic))
    return {"ops": ops, "energy_uj": sum(ops.values()), "latency_ms": board_ms, "asic_ms": asic,
            "met": board_ms <= target_ms + 1e-12, "exit_layer": 1 + layers2}


def replan(rec: dict, policy: str, target_ms: float, board, p: EnergyParams, sched: Schedule,
           threshold_layers: int = 12, work: LoggedWork | None = None) -> dict:
    """A logged sentence under another runnable policy or target: the plan the host would make,
    its cycles from the cost model, its energy and latency (board time and ASIC time)."""
    clock, grid = Clock(board), p.grid
    s, layers, top = rec["tokens"], threshold_layers, board.top_clock
    c1 = rec["phase1"]["cycles"]
    true_exit = rec["true_exit_layer"]
    pred = predicted_for(policy, rec["predicted_exit_layer"], rec.get("predicted_exit_layer_binned", 0))
    f1 = phase1_clock(policy, clock, grid, sched, c1, s, layers, target_ms)
    ms = c1 / (f1 * 1e3) + (f1 != top) * board.clock_switch_us / 1e3
    at_pred = 1 if true_exit == 1 else min(true_exit, max(pred, 2))
    exit_layer = {"base": layers, "ee": true_exit, "oracle": true_exit}.get(policy, at_pred)
    switches, f2 = int(f1 != top), f1
    if exit_layer > 1:
        plan = phase2_plan(policy, clock, grid, sched, s, layers, pred, true_exit, ms, target_ms, current_mhz=f1)
        f2 = plan.mhz
        ms += sched.phase2_cycles(s, exit_layer - 1) / (f2 * 1e3) + (f2 != f1) * board.clock_switch_us / 1e3
        switches += f2 != f1
    c2 = (work or LoggedWork(sched)).phase2(rec, exit_layer - 1) if exit_layer > 1 else None
    return _sentence(p, sched, s, dict(rec["phase1"]["counters"]), vf_point(grid, clock, f1).volts, exit_layer - 1,
                     c2, vf_point(grid, clock, f2).volts, switches, ms, target_ms,
                     asic_deadline_ms(target_ms, board, p))


def at_v0(rec: dict, exit_layer: int, target_ms: float, board, p: EnergyParams, sched: Schedule,
          work: LoggedWork | None = None) -> float:
    """Energy (uJ) of the sentence's first `exit_layer` layers all at V0 (EE stopped there)."""
    s, top = rec["tokens"], board.top_clock
    ms = (rec["phase1"]["cycles"] + sched.phase2_cycles(s, exit_layer - 1)) / (top * 1e3)
    c2 = (work or LoggedWork(sched)).phase2(rec, exit_layer - 1) if exit_layer > 1 else None
    return _sentence(p, sched, s, dict(rec["phase1"]["counters"]), p.v0, exit_layer - 1, c2, p.v0, 0, ms, target_ms,
                     asic_deadline_ms(target_ms, board, p))["energy_uj"]


class BoundCosts:
    """Per logged sentence, energy and time of phase 1 and of phase 2 (to `layers` of each) at
    every operating point (the fastest board clock of each; `operating_clocks`): the `bound` mode
    at any target through `lower_bound_energy`, with idle power as a credit per ASIC ms used."""

    def __init__(self, records, layers, board, p: EnergyParams, sched: Schedule, work: LoggedWork | None = None):
        clock, work = Clock(board), work or LoggedWork(sched)
        self.board, self.p, self.layers = board, p, np.asarray(layers)
        clocks = operating_clocks(clock, p.grid)
        n, k = len(records), len(clocks)
        self.e, self.a, self.t = (np.zeros((n, 2, k)) for _ in range(3))
        for i, (rec, w) in enumerate(zip(records, self.layers)):
            s = rec["tokens"]
            c2 = work.phase2(rec, int(w) - 1) if w > 1 else None
            for j, mhz in enumerate(clocks):
                v = vf_point(p.grid, clock, mhz).volts
                e1, a1 = phase_energy(p, sched, s, 1, True, rec["phase1"]["counters"], v)
                self.e[i, 0, j], self.a[i, 0, j], self.t[i, 0, j] = sum(e1.values()), a1, rec["phase1"]["cycles"] / (mhz * 1e3)
                if c2 is not None:
                    e2, a2 = phase_energy(p, sched, s, int(w) - 1, False, c2, v)
                    self.e[i, 1, j], self.a[i, 1, j], self.t[i, 1, j] = sum(e2.values()), a2, c2["cycles"] / (mhz * 1e3)

    def at(self, target_ms: float) -> dict:
        idle = self.p.idle_power_mw
        units = np.ones(self.e.shape[:2])
        energy, used, ok = lower_bound_energy(units, self.e - idle * self.a, self.t, np.full(len(units), target_ms))
        deadline = asic_deadline_ms(target_ms, self.board, self.p)
        # the ASIC time of the chosen mix is at most the board time x top / f0 <= the deadline
        fast = self.t.argmin(-1)[..., None]
        e_fast = np.take_along_axis(self.e, fast, -1)[..., 0].sum(-1)       # a planned miss: no idle
        energy = np.where(ok, energy + idle * deadline, e_fast)
        return {"energy_uj": energy, "latency_ms": used, "met": ok, "exit_layer": self.layers}


# ---- summaries -----------------------------------------------------------------------------------
def mode_summary(records: list[dict], projected: list[dict]) -> dict:
    labelled = [r for r in records if r.get("label") is not None]
    lat = np.array([r["latency_ms"] for r in records])
    return {"n": len(records),
            "accuracy": float(np.mean([r["correct"] for r in labelled])) if labelled else None,
            "avg_exit_layer": float(np.mean([r["exit_layer"] for r in records])),
            "energy_uj": float(np.mean([x["energy_uj"] for x in projected])),
            "latency_p99_ms": float(np.percentile(lat, 99)),
            "latency_mean_ms": float(lat.mean()),
            "asic_latency_p99_ms": float(np.percentile([x["asic_ms"] for x in projected], 99)),
            "target_met_fraction": float(np.mean([r["target_met"] for r in records])),
            "planned_misses": sum(bool(r.get("planned_miss")) for r in records),
            "energy_breakdown_uj": {k: float(np.mean([x["ops"][k] for x in projected])) for k in BREAKDOWN},
            "energy_phase_uj": {k: float(np.mean([x["phases"][k] for x in projected])) for k in ("phase1", "phase2")}}


def reprojected_summary(plans: list[dict] | dict, accuracy) -> dict:
    """A re-projected mode's figures (plans: per-sentence dicts, or arrays for bound)."""
    get = (lambda k: np.asarray(plans[k])) if isinstance(plans, dict) else (lambda k: np.array([x[k] for x in plans]))
    out = {"n": len(get("energy_uj")), "accuracy": accuracy, "avg_exit_layer": float(get("exit_layer").mean()),
           "energy_uj": float(get("energy_uj").mean()), "latency_p99_ms": float(np.percentile(get("latency_ms"), 99)),
           "target_met_fraction": float(get("met").mean()), "reprojected": True}
    if isinstance(plans, list):
        out["energy_breakdown_uj"] = {k: float(np.mean([x["ops"][k] for x in plans])) for k in BREAKDOWN}
    return out


def load_runs(run_paths: list[Path]) -> dict[str, tuple[dict, list[dict]]]:
    """Each policy's log header and finished records; the logs must share task, board, target,
    array and artifact."""
    runs = {}
    for path in run_paths:
        head, records = load_run(path)
        if not records:
            raise ReportError(f"{path} holds no finished sentence")
        runs[head["policy"]] = (head, records)
    heads = [h for h, _ in runs.values()]
    for key in ("task", "board", "target_ms", "array_n", "artifact_sha256"):
        if len({json.dumps(h.get(key)) for h in heads}) > 1:
            raise ReportError(f"the run logs differ in {key}: {[h.get(key) for h in heads]}")
    return runs


def run_artifact(head: dict, model_dirs=None):
    """The artifact task a log was run with, found by the checksum its header records among
    `model_dirs` and the default model folder. A log without a checksum (written before logs
    recorded one) uses the first folder's artifact."""
    dirs = [*(model_dirs or []), DEFAULT_MODEL_DIR]
    sha = head.get("artifact_sha256")
    if sha is None:
        path = artifact_dir(dirs[0])
    else:
        path, seen = find_artifact(sha, dirs)
        if path is None:
            found = "; ".join(f"{d} has sha256 {s}" for d, s in seen.items()) or \
                f"no artifact in {', '.join(str(artifact_dir(d)) for d in dirs)}"
            raise ReportError(f"the run log was written with the artifact of sha256 {sha}, but {found}; "
                              "pass --model-dir with the model folder that ran it")
    return load_artifact(path, [head["task"]])[head["task"]]


def _project(run_paths: list[Path], p: EnergyParams, model_dirs=None) -> tuple[dict, dict]:
    """The summary of every mode through the projection, and what the plots need."""
    runs = load_runs(run_paths)
    head = next(iter(runs.values()))[0]
    board = get_board(head["board"])
    task = run_artifact(head, model_dirs)
    sched = schedule_for(task, board.name, head.get("array_n", board.array_n)).warm()
    target = float(head["target_ms"])
    deadline, layers = asic_deadline_ms(target, board, p), task.cfg.layers
    work = LoggedWork(sched, [records for _, records in runs.values()])

    modes, projections, exits = {}, {}, {}
    for mode, (_, records) in runs.items():
        proj = [project(r, p, sched, deadline) for r in records]
        projections[mode] = (records, proj)
        modes[mode] = mode_summary(records, proj)
    # Modes without a log, re-projected from a log that knows each sentence's true exit layer.
    source = next((runs[m][1] for m in ("lai", "lai-slack", "ee", "oracle", "base") if m in runs), None)
    replans = {}
    if source is not None:
        for mode, acc_from in REPROJECTED.items():
            if mode in modes:
                continue
            acc = modes.get(acc_from, {}).get("accuracy")
            if mode == "bound":
                plans = BoundCosts(source, [r["true_exit_layer"] for r in source], board, p, sched, work).at(target)
            else:
                plans = [replan(r, mode, target, board, p, sched, layers, work) for r in source]
                replans[mode] = plans
            modes[mode] = reprojected_summary(plans, acc)
            exits[mode] = list(np.asarray(plans["exit_layer"] if isinstance(plans, dict)
                                          else [x["exit_layer"] for x in plans]))
    summary = {"task": head["task"], "board": head["board"], "latency_target_ms": target,
               "idle_power": p.idle_power, "gated_mac_fraction": p.gated_mac_fraction,
               "modes": {m: modes[m] for m in MODES if m in modes}}
    energy = {m: s["energy_uj"] for m, s in summary["modes"].items()}
    for ref in ("lai", "bound"):
        if ref in energy:
            for m in energy:
                if m != ref:
                    summary[f"ratio_{m}_over_{ref}"] = energy[m] / energy[ref]
    if "oracle" in energy and "ee" in energy:
        summary["ratio_ee_over_oracle"] = energy["ee"] / energy["oracle"]
    if "lai" in runs:
        summary.update(_against_lai(runs, exits, source, energy, target, board, p, sched, layers, work))
    ctx = {"board": board, "task": task, "sched": sched, "target": target, "source": source,
           "projections": projections, "modes": modes, "work": work}
    return summary, ctx


def _against_lai(runs, exits, source, energy, target, board, p, sched, layers, work) -> dict:
    """The decomposition of each ratio against lai (edgebert.analysis.replay.decomposition) and
    the oracle and bound evaluated at lai's own exit layers."""
    v0 = {}
    for m in energy:
        pairs = ([(r, r["exit_layer"]) for r in runs[m][1]] if m in runs else list(zip(source, exits.get(m, []))))
        if pairs:
            v0[m] = float(np.mean([at_v0(r, int(e), target, board, p, sched, work) for r, e in pairs]))
    dec = decomposition({m: energy[m] for m in v0}, v0)
    lai_recs = runs["lai"][1]
    lai_layers = [r["exit_layer"] for r in lai_recs]
    oracle_at = [replan({**r, "true_exit_layer": e}, "oracle", target, board, p, sched, layers, work)
                 for r, e in zip(lai_recs, lai_layers)]
    bound_at = BoundCosts(lai_recs, lai_layers, board, p, sched, work).at(target)
    e_oracle, e_bound = float(np.mean([x["energy_uj"] for x in oracle_at])), float(np.mean(bound_at["energy_uj"]))
    out = {"decomposition_over_lai": dec, "energy_uj_oracle_at_lai_layers": e_oracle,
           "energy_uj_bound_at_lai_layers": e_bound,
           "ratio_lai_over_oracle_at_lai_layers": energy["lai"] / e_oracle,
           "ratio_lai_over_bound_at_lai_layers": energy["lai"] / e_bound}
    for m, d in dec.items():
        out[f"layers_factor_{m}_over_lai"] = d["layers_factor"]
        out[f"dvfs_factor_{m}_over_lai"] = d["dvfs_factor"]
    return out


def projection(run_paths: list[Path], params: EnergyParams | None = None, model_dirs=None) -> dict:
    """Every mode's figures through the 12 nm projection, and the energy ratios (no files)."""
    return _project(run_paths, params or EnergyParams.load(), model_dirs)[0]


def build_report(run_paths: list[Path], out_dir: Path, params: EnergyParams | None = None,
                 sweep: list[dict] | None = None, targets_ms=None, measured: dict | None = None,
                 model_dirs=None) -> dict:
    """Write report.md, summary.json and the plots; return the summary."""
    p = params or EnergyParams.load()
    summary, c = _project(run_paths, p, model_dirs)
    board, sched, target, source, layers = c["board"], c["sched"], c["target"], c["source"], c["task"].cfg.layers
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets_ms = targets_ms or list(np.round(np.linspace(0.4, 2.0, 9) * target, 3))
    curve = _target_curve(source, targets_ms, board, p, sched, layers, c["work"]) if source else {}
    summary["energy_vs_target"] = curve
    plots = report_plots.plots(out_dir, c["projections"], c["modes"], curve, sweep, target)
    if measured:
        summary["measured"] = report_plots.measured(measured, p, sched, source)
        plots["measured"] = report_plots.measured_plot(out_dir, summary["measured"])
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    (out_dir / "report.md").write_text(report_plots.markdown(summary, plots, sweep, p))
    return summary


def _target_curve(records, targets, board, p, sched, layers, work: LoggedWork) -> dict:
    curve = {m: [] for m in MODES}
    bound = BoundCosts(records, [r["true_exit_layer"] for r in records], board, p, sched, work)
    for t in targets:
        for m in MODES:
            if m == "bound":
                b = bound.at(float(t))
                e, met = b["energy_uj"], b["met"]
            else:
                plans = [replan(r, m, float(t), board, p, sched, layers, work) for r in records]
                e, met = [x["energy_uj"] for x in plans], [x["met"] for x in plans]
            curve[m].append({"target_ms": float(t), "energy_uj": float(np.mean(e)),
                             "target_met_fraction": float(np.mean(met))})
    return curve
