"""The 12 nm energy projection: energy replay."""
from __future__ import annotations

from pathlib import Path

import click

from edgebert.cli.options import emit, json_option


@click.group()
def energy():
    """The calibrated 12 nm ASIC energy and latency projection."""


@energy.command("replay")
@click.option("--params", "params_path", default=None, help="Parameter file (default model_export/accel/params/asic12nm.json).")
@click.option("--data", "data_dir", default=None, help="EdgeBERT exit data (default data/edgebert, shipped).")
@click.option("--target-factor", default=2.0, show_default=True,
              help="Latency target as a multiple of the all-layer latency at V0.")
@click.option("--idle-power", type=click.Choice(["gated", "leak_at_V0", "leak_at_Vmin"]), default=None,
              help="Override the parameter file's idle power (from a sentence's end to its deadline).")
@click.option("--update-doc", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Rewrite the generated sections of docs/energy_model.md.")
@json_option()
def energy_replay(params_path, data_dir, target_factor, idle_power, update_doc, as_json):
    """EdgeBERT's released SST-2 exit data through the projection: every mode (base, ee, lai,
    lai-slack, oracle, bound, lai-entropy) per threshold, with energy, p99 latency, target met,
    and the ratios against lai and against bound."""
    from edgebert.accel.asic12nm import EnergyParams
    from edgebert.analysis.replay import DATA_DIR, TARGET_FACTORS, doc_sections, replay, sensitivity
    if target_factor <= 0:
        raise click.BadParameter("must be > 0", param_hint="--target-factor")
    overrides = {"idle_power": idle_power} if idle_power else {}
    p = EnergyParams.load(params_path, **overrides) if params_path else EnergyParams.load(**overrides)
    d = Path(data_dir) if data_dir else DATA_DIR
    out = replay(p, d, target_factor=target_factor)
    if update_doc:
        from edgebert.core.docgen import replace_sections
        sections = doc_sections(p, d, TARGET_FACTORS, sensitivity(p, d, target_factor), out)
        path = Path(update_doc)
        path.write_text(replace_sections(path.read_text(), sections))
    if as_json:
        emit(out, True)
        return
    click.echo(f"target {out['target_ms']:.1f} ms ({target_factor:g} x the all-layer latency at V0), "
               f"idle power {out['idle_power']}; energy in uJ per sentence")
    for row in out["thresholds"]:
        click.echo(f"T = {row['threshold']:.2f}: EE exit {row['avg_exit_layer']:.2f}, lai exit {row['avg_exit_layer_lai']:.2f}")
        for m, s in row["modes"].items():
            over = "" if m == "lai" else f"  {m}/lai {row[f'ratio_{m}_over_lai']:.3f}"
            click.echo(f"  {m:<12} energy {s['energy_uj']:9.1f}  p99 {s['latency_p99_ms']:6.2f} ms  "
                       f"target met {s['target_met_fraction']:.3f}{over}")


COMMANDS = (energy,)
