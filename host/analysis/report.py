"""Reports: run logs (JSONL from `edgebert run`) through the 12 nm projection into a Markdown
report with PNG plots and a JSON summary comparing base, EE, LAI and the oracle.

A mode's figures come from its own log. The oracle, and every mode at other latency targets,
can also be re-projected from a log that holds each sentence's predicted and true exit layers:
the cycles of any plan follow from the cost model, which equals the measured counters exactly.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from edgebert.accel.artifact import load_artifact  # noqa: E402
from edgebert.accel.asic12nm import EnergyParams  # noqa: E402
from edgebert.accel.builds import schedule_for  # noqa: E402
from edgebert.accel.checksum import artifact_dir, find_artifact  # noqa: E402
from edgebert.accel.cost import Schedule  # noqa: E402
from edgebert.analysis.energy import OPERATORS, phase_energy, switch_energy_uj  # noqa: E402
from edgebert.core.errors import InputError  # noqa: E402
from edgebert.core.paths import DEFAULT_MODEL_DIR  # noqa: E402
from edgebert.runtime.boards import get_board  # noqa: E402
from edgebert.runtime.clocks import Clock  # noqa: E402
from edgebert.runtime.policy import phase1_clock, phase2_plan, vf_point  # noqa: E402
from edgebert.runtime.runner import log_header  # noqa: E402

MODES = ("base", "ee", "lai", "oracle")
COLORS = {"base": "tab:grey", "ee": "tab:blue", "lai": "tab:green", "oracle": "tab:purple"}


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
        if "error" not in rec:
            records.append(rec)
    return head["run"], records


# ---- projection of one sentence ------------------------------------------------------------------
def project(rec: dict, p: EnergyParams, sched: Schedule) -> dict:
    """Energy per operator (uJ), total, and ASIC latency (ms) of a logged sentence."""
    e1, t1 = phase_energy(p, sched, rec["tokens"], 1, True, rec["phase1"]["counters"], rec["phase1"]["vf"]["volts"])
    ops, ms, phases = dict(e1), t1, {"phase1": sum(e1.values()), "phase2": 0.0}
    if "phase2" in rec:
        e2, t2 = phase_energy(p, sched, rec["tokens"], rec["exit_layer"] - 1, False, rec["phase2"]["counters"],
                              rec["phase2"]["vf"]["volts"])
        ops = {k: ops[k] + e2[k] for k in ops}
        ms += t2
        phases["phase2"] = sum(e2.values())
    switch = switch_energy_uj(p, rec.get("clock_switches", 0))
    ops["overhead"] += switch
    return {"ops": ops, "phases": phases, "energy_uj": sum(ops.values()),
            "asic_ms": ms + rec.get("clock_switches", 0) * p.t_switch_ns * 1e-6}


def replan(rec: dict, policy: str, target_ms: float, board, p: EnergyParams, sched: Schedule,
           threshold_layers: int = 12) -> dict:
    """A logged sentence under another policy or target: the plan the host would make, its
    cycles from the cost model, its energy and latency (board time and ASIC time)."""
    clock, grid = Clock(board), p.grid
    s, layers, top = rec["tokens"], threshold_layers, board.top_clock
    c1 = rec["phase1"]["cycles"]
    true_exit, pred = rec["true_exit_layer"], rec["predicted_exit_layer"]
    f1 = phase1_clock(policy, clock, grid, sched, c1, s, layers, target_ms)
    ms = c1 / (f1 * 1e3) + (f1 != top) * board.clock_switch_us / 1e3
    exit_layer = {"base": layers, "ee": true_exit, "oracle": true_exit,
                  "lai": 1 if true_exit == 1 else min(true_exit, max(pred, 2))}[policy]
    counters1 = dict(rec["phase1"]["counters"])
    e1, a1 = phase_energy(p, sched, s, 1, True, counters1, vf_point(grid, clock, f1).volts)
    ops, asic, switches = dict(e1), a1, int(f1 != top)
    if exit_layer > 1:
        plan = phase2_plan(policy, clock, grid, sched, s, layers, pred, true_exit, ms, target_ms)
        c2 = sched.phase2(s, exit_layer - 1)
        ms += c2["cycles"] / (plan.mhz * 1e3) + (plan.mhz != f1) * board.clock_switch_us / 1e3
        switches += plan.mhz != f1
        e2, a2 = phase_energy(p, sched, s, exit_layer - 1, False, c2, plan.vf.volts)
        ops = {k: ops[k] + e2[k] for k in ops}
        asic += a2
    ops["overhead"] += switch_energy_uj(p, switches)
    return {"energy_uj": sum(ops.values()), "latency_ms": ms, "met": ms <= target_ms + 1e-12,
            "exit_layer": exit_layer, "asic_ms": asic}


# ---- summaries -----------------------------------------------------------------------------------
def mode_summary(records: list[dict], projected: list[dict]) -> dict:
    labelled = [r for r in records if r.get("label") is not None]
    lat = np.array([r["latency_ms"] for r in records])
    return {"n": len(records),
            "accuracy": float(np.mean([r["correct"] for r in labelled])) if labelled else None,
            "avg_exit_layer": float(np.mean([r["exit_layer"] for r in records])),
            "energy_uj_mean": float(np.mean([x["energy_uj"] for x in projected])),
            "latency_ms_p99": float(np.percentile(lat, 99)),
            "latency_ms_mean": float(lat.mean()),
            "asic_latency_ms_p99": float(np.percentile([x["asic_ms"] for x in projected], 99)),
            "target_met_fraction": float(np.mean([r["target_met"] for r in records])),
            "energy_breakdown_uj": {k: float(np.mean([x["ops"][k] for x in projected])) for k in OPERATORS},
            "energy_phase_uj": {k: float(np.mean([x["phases"][k] for x in projected])) for k in ("phase1", "phase2")}}


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

    modes = {}
    projections = {}
    for mode, (_, records) in runs.items():
        proj = [project(r, p, sched) for r in records]
        projections[mode] = (records, proj)
        modes[mode] = mode_summary(records, proj)
    # The oracle re-projected from a log that knows each sentence's true exit layer.
    source = next((runs[m][1] for m in ("lai", "ee", "oracle", "base") if m in runs), None)
    if "oracle" not in modes and source is not None:
        plans = [replan(r, "oracle", target, board, p, sched, task.cfg.layers) for r in source]
        modes["oracle"] = {"n": len(plans), "accuracy": modes.get("ee", {}).get("accuracy"),
                           "avg_exit_layer": float(np.mean([x["exit_layer"] for x in plans])),
                           "energy_uj_mean": float(np.mean([x["energy_uj"] for x in plans])),
                           "latency_ms_p99": float(np.percentile([x["latency_ms"] for x in plans], 99)),
                           "target_met_fraction": float(np.mean([x["met"] for x in plans])),
                           "reprojected": True}
    summary = {"task": head["task"], "board": head["board"], "latency_target_ms": target,
               "modes": {m: modes[m] for m in MODES if m in modes}}
    if "lai" in modes:
        for other in ("base", "ee"):
            if other in modes:
                summary[f"ratio_{other}_over_lai"] = modes[other]["energy_uj_mean"] / modes["lai"]["energy_uj_mean"]
        if "oracle" in modes and "ee" in modes:
            summary["ratio_ee_over_oracle"] = modes["ee"]["energy_uj_mean"] / modes["oracle"]["energy_uj_mean"]
    ctx = {"board": board, "task": task, "sched": sched, "target": target, "source": source,
           "projections": projections, "modes": modes}
    return summary, ctx


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
    curve = _target_curve(source, targets_ms, board, p, sched, layers) if source else {}
    summary["energy_vs_target"] = curve
    plots = _plots(out_dir, c["projections"], c["modes"], curve, sweep, target)
    if measured:
        summary["measured"] = _measured(measured, p, sched, source)
        plots["measured"] = _measured_plot(out_dir, summary["measured"])
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    (out_dir / "report.md").write_text(_markdown(summary, plots, sweep, p))
    return summary


def _measured(measured: dict, p: EnergyParams, sched: Schedule, records) -> dict:
    """The board's measured energy per sentence at each clock beside the 12 nm projection of the
    same work (EE at the ASIC point that stands for that clock)."""
    from edgebert.runtime.boards import get_board
    from edgebert.runtime.policy import vf_point
    board = get_board(measured["board"])
    clock = Clock(board)
    rows = []
    for r in measured["clocks"]:
        v = vf_point(p.grid, clock, r["clock_mhz"]).volts
        asic = []
        for rec in records or []:
            e, _ = phase_energy(p, sched, rec["tokens"], 1, True, rec["phase1"]["counters"], v)
            total = sum(e.values())
            if rec["true_exit_layer"] > 1:
                e2, _ = phase_energy(p, sched, rec["tokens"], rec["true_exit_layer"] - 1, False,
                                     sched.phase2(rec["tokens"], rec["true_exit_layer"] - 1), v)
                total += sum(e2.values())
            asic.append(total)
        rows.append({"clock_mhz": r["clock_mhz"], "fpga_mj_per_sentence": r["energy_mj_per_sentence"],
                     "asic_volts": v, "asic_uj_per_sentence": float(np.mean(asic)) if asic else None})
    return {"board": measured["board"], "power_source": measured.get("power_source"), "clocks": rows}


def _measured_plot(out: Path, m: dict) -> str:
    fig, ax1 = plt.subplots(figsize=(7, 3.5))
    c = [r["clock_mhz"] for r in m["clocks"]]
    ax1.plot(c, [r["fpga_mj_per_sentence"] for r in m["clocks"]], "o-", color="tab:red")
    ax1.set_xlabel("PL clock (MHz)"), ax1.set_ylabel(f"{m['board']} measured (mJ / sentence)", color="tab:red")
    ax2 = ax1.twinx()
    ax2.plot(c, [r["asic_uj_per_sentence"] or 0 for r in m["clocks"]], "s--", color="tab:blue")
    ax2.set_ylabel("12 nm projection (uJ / sentence)", color="tab:blue")
    ax1.set_title("measured FPGA energy beside the 12 nm projection")
    return _save(fig, out / "measured_energy.png")


def _target_curve(records, targets, board, p, sched, layers) -> dict:
    curve = {m: [] for m in MODES}
    for t in targets:
        for m in MODES:
            plans = [replan(r, m, float(t), board, p, sched, layers) for r in records]
            curve[m].append({"target_ms": float(t), "energy_uj_mean": float(np.mean([x["energy_uj"] for x in plans])),
                             "target_met_fraction": float(np.mean([x["met"] for x in plans]))})
    return curve


# ---- plots -----------------------------------------------------------------------------------------
def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def _plots(out: Path, projections, modes, curve, sweep, target) -> dict[str, str]:
    files = {}
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / max(len(projections), 1)
    for i, (mode, (records, _)) in enumerate(projections.items()):
        hist = np.bincount([r["exit_layer"] for r in records], minlength=13)[1:]
        ax.bar(np.arange(1, 13) + i * width - 0.4 + width / 2, hist, width, label=mode, color=COLORS[mode])
    ax.set_xlabel("exit layer"), ax.set_ylabel("sentences"), ax.set_xticks(range(1, 13)), ax.legend()
    ax.set_title("exit-layer histogram")
    files["exit_histogram"] = _save(fig, out / "exit_histogram.png")

    if sweep:
        fig, ax1 = plt.subplots(figsize=(7, 3.5))
        t = [r["threshold"] for r in sweep]
        ax1.plot(t, [100 * r["accuracy"] for r in sweep], "o-", color="tab:blue")
        ax1.set_xlabel("entropy threshold T"), ax1.set_ylabel("accuracy (%)", color="tab:blue")
        ax2 = ax1.twinx()
        ax2.plot(t, [r["avg_exit_layer"] for r in sweep], "s--", color="tab:red")
        ax2.set_ylabel("average exit layer", color="tab:red")
        ax1.set_title("accuracy and average exit layer against the threshold")
        files["threshold_sweep"] = _save(fig, out / "threshold_sweep.png")

        fig, ax = plt.subplots(figsize=(6, 4))
        e = np.array([r["energy_uj_mean"] for r in sweep])
        a = np.array([100 * r["accuracy"] for r in sweep])
        ax.scatter(e, a, c="tab:blue", s=14, label="thresholds (EE at V0)")
        order = np.argsort(e)
        front, best = [], -1.0
        for i in order:
            if a[i] > best:
                front.append(i)
                best = a[i]
        ax.plot(e[front], a[front], "-", color="tab:orange", label="Pareto front")
        ax.set_xlabel("energy per sentence (uJ, 12 nm)"), ax.set_ylabel("accuracy (%)"), ax.legend()
        ax.set_title("accuracy against energy over thresholds")
        files["pareto"] = _save(fig, out / "pareto.png")

    if curve:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        for m, pts in curve.items():
            ax.plot([q["target_ms"] for q in pts], [q["energy_uj_mean"] for q in pts], "o-", label=m, color=COLORS[m])
        ax.axvline(target, color="k", lw=0.8, ls=":")
        ax.set_xlabel("latency target (ms, board time)"), ax.set_ylabel("energy per sentence (uJ)"), ax.legend()
        ax.set_title("energy against the latency target")
        files["energy_vs_target"] = _save(fig, out / "energy_vs_target.png")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = [m for m in MODES if m in modes and "energy_breakdown_uj" in modes[m]]
    bottom = np.zeros(len(names))
    for op in OPERATORS:
        vals = np.array([modes[m]["energy_breakdown_uj"][op] for m in names])
        ax.bar(names, vals, bottom=bottom, label=op)
        bottom += vals
    ax.set_ylabel("energy per sentence (uJ)"), ax.legend(fontsize=7, ncol=2)
    ax.set_title("energy per operator")
    files["energy_breakdown"] = _save(fig, out / "energy_breakdown.png")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for mode, (records, _) in projections.items():
        ax.hist([r["latency_ms"] for r in records], bins=40, histtype="step", label=mode, color=COLORS[mode])
    ax.axvline(target, color="k", lw=1, ls="--", label="target")
    ax.set_xlabel("latency per sentence (ms, board time)"), ax.set_ylabel("sentences"), ax.legend()
    ax.set_title("latency against the target")
    files["latency"] = _save(fig, out / "latency.png")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, (mode, (records, _)) in enumerate(projections.items()):
        time_at = {}
        for r in records:
            for ph in ("phase1", "phase2"):
                if ph in r:
                    time_at[r[ph]["clock_mhz"]] = time_at.get(r[ph]["clock_mhz"], 0.0) + r[ph]["ms"]
        total = sum(time_at.values())
        clocks = sorted(time_at)
        ax.bar([f"{c:g}" for c in clocks], [100 * time_at[c] / total for c in clocks], alpha=0.6, label=mode,
               color=COLORS[mode])
    ax.set_xlabel("PL clock (MHz)"), ax.set_ylabel("share of accelerator time (%)"), ax.legend()
    ax.set_title("clock residency")
    files["clock_residency"] = _save(fig, out / "clock_residency.png")
    return files


def _markdown(summary: dict, plots: dict, sweep, p: EnergyParams) -> str:
    rows = ["| mode | accuracy | avg exit layer | energy / sentence (uJ) | latency p99 (ms) | target met |",
            "|---|---|---|---|---|---|"]
    for m, s in summary["modes"].items():
        acc = "-" if s.get("accuracy") is None else f"{100 * s['accuracy']:.1f} %"
        note = " (re-projected)" if s.get("reprojected") else ""
        rows.append(f"| {m}{note} | {acc} | {s['avg_exit_layer']:.2f} | {s['energy_uj_mean']:.3f} | "
                    f"{s['latency_ms_p99']:.2f} | {100 * s['target_met_fraction']:.1f} % |")
    ratios = ", ".join(f"{k} = {v:.2f}" for k, v in summary.items() if k.startswith("ratio_"))
    parts = [f"# EdgeBERT report: {summary['task']} on {summary['board']}", "",
             f"Latency target {summary['latency_target_ms']} ms (board time). Energy: the 12 nm projection "
             f"(V0 {p.v0} V, f0 {p.f0_mhz:g} MHz, Vmin {p.vmin} V; docs/energy_model.md).", "",
             *rows, "", f"Ratios: {ratios}.", ""]
    if "measured" in summary:
        m = summary["measured"]
        parts += [f"## Measured on {m['board']} ({m['power_source']})", "",
                  "| PL clock (MHz) | FPGA, measured (mJ / sentence) | 12 nm point (V) "
                  "| 12 nm projection (uJ / sentence) |",
                  "|---|---|---|---|"]
        parts += [f"| {r['clock_mhz']:g} | {r['fpga_mj_per_sentence']:.4f} | {r['asic_volts']:.2f} | "
                  + ("-" if r["asic_uj_per_sentence"] is None else f"{r['asic_uj_per_sentence']:.3f}") + " |"
                  for r in m["clocks"]]
        parts.append("")
    titles = {"exit_histogram": "Exit layers", "threshold_sweep": "Threshold sweep", "pareto": "Accuracy and energy",
              "energy_vs_target": "Energy against the latency target", "energy_breakdown": "Energy per operator",
              "latency": "Latency against the target", "clock_residency": "Clock residency",
              "measured": "Measured board energy beside the projection"}
    for key, name in plots.items():
        parts += [f"## {titles[key]}", "", f"![{titles[key]}]({name})", ""]
    return "\n".join(parts)
