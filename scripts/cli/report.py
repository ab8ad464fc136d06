"""Reports from run logs: report."""
from __future__ import annotations

import json
from pathlib import Path

import click

from edgebert.cli.options import emit, json_option, model_dir_option


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--out", "out_dir", required=True, help="Report folder (report.md, summary.json, PNGs).")
@click.option("--sweep", "sweep_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Threshold sweep JSON (list of threshold/accuracy/avg_exit_layer/energy_uj), "
                   "as the demo writes.")
@click.option("--params", "params_path", default=None, help="Energy parameter file.")
@click.option("--measured", "measured_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Board measurement from `edgebert power sweep`, shown beside the 12 nm projection.")
@model_dir_option(help="Model package (a shipped name or a folder) whose artifact ran the logs (found by "
                      "checksum; default models/tiny).")
@json_option()
def report(runs, out_dir, sweep_path, params_path, measured_path, model_dir, as_json):
    """Markdown report with plots from run logs (one per policy) through the 12 nm projection."""
    from edgebert.accel.asic12nm import EnergyParams
    from edgebert.analysis.report import build_report
    p = EnergyParams.load(params_path) if params_path else EnergyParams.load()
    sweep = json.loads(Path(sweep_path).read_text()) if sweep_path else None
    measured = json.loads(Path(measured_path).read_text()) if measured_path else None
    summary = build_report([Path(r) for r in runs], Path(out_dir), p, sweep, measured=measured,
                           model_dirs=[Path(model_dir)] if model_dir else None)
    summary.pop("energy_vs_target", None)
    emit(summary, as_json)


COMMANDS = (report,)
