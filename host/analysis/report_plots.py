"""The files of a report (edgebert.analysis.report): the PNG plots, the board measurement beside
the projection, and report.md."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from edgebert.accel.asic12nm import EnergyParams  # noqa: E402
from edgebert.accel.cost import Schedule  # noqa: E402
from edgebert.accel.energy import BREAKDOWN, phase_energy  # noqa: E402
from edgebert.runtime.clocks import Clock  # noqa: E402
from edgebert.runtime.policy import MODES  # noqa: E402

COLORS = {"base": "tab:grey", "ee": "tab:blue", "lai": "tab:green", "lai-slack": "tab:olive",
          "lai-binned": "tab:cyan", "oracle": "tab:purple", "bound": "tab:red"}


def measured(measured: dict, p: EnergyParams, sched: Schedule, records) -> dict:
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


def measured_plot(out: Path, m: dict) -> str:
    fig, ax1 = plt.subplots(figsize=(7, 3.5))
    c = [r["clock_mhz"] for r in m["clocks"]]
    ax1.plot(c, [r["fpga_mj_per_sentence"] for r in m["clocks"]], "o-", color="tab:red")
    ax1.set_xlabel("PL clock (MHz)"), ax1.set_ylabel(f"{m['board']} measured (mJ / sentence)", color="tab:red")
    ax2 = ax1.twinx()
    ax2.plot(c, [r["asic_uj_per_sentence"] or 0 for r in m["clocks"]], "s--", color="tab:blue")
    ax2.set_ylabel("12 nm projection (uJ / sentence)", color="tab:blue")
    ax1.set_title("measured FPGA energy beside the 12 nm projection")
    return _save(fig, out / "measured_energy.png")


# ---- plots -----------------------------------------------------------------------------------------
def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def plots(out: Path, projections, modes, curve, sweep, target) -> dict[str, str]:
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
        e = np.array([r["energy_uj"] for r in sweep])
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
            ax.plot([q["target_ms"] for q in pts], [q["energy_uj"] for q in pts], "o-", label=m, color=COLORS[m])
        ax.axvline(target, color="k", lw=0.8, ls=":")
        ax.set_xlabel("latency target (ms, board time)"), ax.set_ylabel("energy per sentence (uJ)"), ax.legend()
        ax.set_title("energy against the latency target")
        files["energy_vs_target"] = _save(fig, out / "energy_vs_target.png")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = [m for m in MODES if m in modes and "energy_breakdown_uj" in modes[m]]
    bottom = np.zeros(len(names))
    cmap = plt.get_cmap("tab10")
    for i, op in enumerate(BREAKDOWN):               # matmul first: tab:blue
        vals = np.array([modes[m]["energy_breakdown_uj"][op] for m in names])
        ax.bar(names, vals, bottom=bottom, label=op, color=cmap(i))
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
    for mode, (records, _) in projections.items():
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


def markdown(summary: dict, plots: dict, sweep, p: EnergyParams) -> str:
    rows = ["| mode | accuracy | avg exit layer | energy / sentence (uJ) | latency p99 (ms) | target met |",
            "|---|---|---|---|---|---|"]
    for m, s in summary["modes"].items():
        acc = "-" if s.get("accuracy") is None else f"{100 * s['accuracy']:.1f} %"
        note = " (re-projected)" if s.get("reprojected") else ""
        rows.append(f"| {m}{note} | {acc} | {s['avg_exit_layer']:.2f} | {s['energy_uj']:.3f} | "
                    f"{s['latency_p99_ms']:.2f} | {100 * s['target_met_fraction']:.1f} % |")
    ratios = ", ".join(f"{k} = {v:.2f}" for k, v in summary.items() if k.startswith("ratio_"))
    parts = [f"# EdgeBERT report: {summary['task']} on {summary['board']}", "",
             f"Latency target {summary['latency_target_ms']} ms (board time). Energy: the 12 nm projection "
             f"(V0 {p.v0} V, f0 {p.f0_mhz:g} MHz, Vmin {p.vmin} V; docs/energy_model.md), with idle power "
             f"`{p.idle_power}` ({p.idle_power_mw:.2f} mW) from each sentence's end to its deadline and "
             f"zero-operand MACs at {p.gated_mac_fraction:g} x e_MAC. Modes: docs/host.md; `bound` is the lower "
             "bound (the true exit known before layer 1).", "",
             *rows, "", f"Ratios: {ratios}.", ""]
    if "decomposition_over_lai" in summary:
        parts += ["## Each ratio against lai: fewer layers x lower voltage", "",
                  "layers factor = energy of the mode's exit layers at V0 / energy of lai's exit layers at V0; "
                  "DVFS factor = ratio / layers factor (docs/energy_model.md).", "",
                  "| mode | ratio over lai | layers factor | DVFS factor |", "|---|---|---|---|"]
        parts += [f"| {m} | {d['ratio']:.3f} | {d['layers_factor']:.3f} | {d['dvfs_factor']:.3f} |"
                  for m, d in summary["decomposition_over_lai"].items()]
        parts += ["", f"At lai's own exit layers the oracle would spend {summary['energy_uj_oracle_at_lai_layers']:.3f} uJ "
                  f"(lai / it = {summary['ratio_lai_over_oracle_at_lai_layers']:.3f}) and the bound "
                  f"{summary['energy_uj_bound_at_lai_layers']:.3f} uJ (lai / it = "
                  f"{summary['ratio_lai_over_bound_at_lai_layers']:.3f}).", ""]
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
