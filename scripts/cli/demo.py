"""The main job: demo (the deployment flow on the C-simulated board)."""
from __future__ import annotations

from pathlib import Path

import click

from edgebert.cli.options import emit, json_option, model_dir_option, target_option, task_option


@click.command()
@task_option(required=False, help=None)
@target_option("Per-sentence latency target (default: the sim board's, docs/host.md).")
@click.option("--out", "out_dir", default="reports/demo", show_default=True)
@click.option("--limit", type=int, default=None, help="Only the first N dev sentences.")
@model_dir_option()
@json_option()
def demo(task, target_ms, out_dir, limit, model_dir, as_json):
    """The main job: the shipped model on the C-simulation under base, EE, LAI (EdgeBERT's
    predictor), LAI-slack and LAI-binned, every task of the artifact interleaved through one
    accelerator (task switches at run time), the 12 nm projection, and a report with plots. Runs
    as resumable steps (export, verify, run_base, run_ee, run_lai, run_lai-slack, run_lai-binned,
    run_multitask, projection, report); each writes OUT/<step>.json and a finished step is skipped on the next call with the same inputs."""
    from edgebert.deploy.flow import run_flow
    out = Path(out_dir)
    flow = run_flow(out, task, target_ms, limit, Path(model_dir) if model_dir else None,
                    log=lambda line: click.echo(line, err=True))
    summary = {**flow["summary"], "steps": flow["steps"]}
    if not as_json:
        click.echo(f"{'mode':>9} {'accuracy':>9} {'avg exit':>9} {'energy uJ':>10} {'p99 ms':>7} {'met':>7}")
        for m, s in summary["modes"].items():
            acc = "-" if s.get("accuracy") is None else f"{100 * s['accuracy']:.1f}%"
            click.echo(f"{m:>9} {acc:>9} {s['avg_exit_layer']:>9.2f} {s['energy_uj']:>10.3f} "
                       f"{s['latency_p99_ms']:>7.2f} {100 * s['target_met_fraction']:>6.1f}%")
        click.echo(f"base/LAI {summary.get('ratio_base_over_lai', 0):.2f}x, EE/LAI "
                   f"{summary.get('ratio_ee_over_lai', 0):.2f}x")
        if "multitask" in summary:
            _multitask_lines(summary["multitask"])
        click.echo(f"report: {out / 'report.md'}")
    else:
        emit(summary, True)


def _multitask_lines(m: dict) -> None:
    order = "alternating" if m["run_length"] == 1 else f"in runs of {m['run_length']}"
    click.echo(f"multitask: {'+'.join(m['tasks'])} {order} through one accelerator under {m['policy']}")
    for t, s in m["tasks"].items():
        f1 = f", F1 {100 * s['f1']:.1f}%" if "f1" in s else ""
        click.echo(f"{t:>9} {100 * (s['accuracy'] or 0):>8.1f}% {s['avg_exit_layer']:>9.2f} "
                   f"{s['energy_uj']:>10.3f}{f1}")
    for t, x in m["per_switch"].items():
        click.echo(f"  {x['count']} switches to {t}: {x['bytes'] / 1024:.0f} KiB task image, "
                   f"{x['cycles']:.0f} cycles, {x['energy_uj']:.3f} uJ each")
    click.echo(f"  switches: {100 * m['switch_share']:.1f}% of the energy; shared tables and embedding "
               f"moved once ({m['switch_shared_bytes'] + m['switch_embedding_bytes']} B after the first load)")


COMMANDS = (demo,)
