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
@click.option("--update-doc", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Rewrite the generated sections of docs/energy_model.md.")
@json_option()
def energy_replay(params_path, data_dir, target_factor, update_doc, as_json):
    """EdgeBERT's released SST-2 exit data through the projection: base/EE, EE/LAI, base/LAI."""
    from edgebert.accel.asic12nm import EnergyParams
    from edgebert.analysis.replay import DATA_DIR, TARGET_FACTORS, doc_sections, replay, sensitivity
    if target_factor <= 0:
        raise click.BadParameter("must be > 0", param_hint="--target-factor")
    p = EnergyParams.load(params_path) if params_path else EnergyParams.load()
    d = Path(data_dir) if data_dir else DATA_DIR
    out = replay(p, d, target_factor=target_factor)
    if update_doc:
        from edgebert.core.docgen import replace_sections
        sections = doc_sections(p, d, TARGET_FACTORS, sensitivity(p, d, target_factor), out)
        path = Path(update_doc)
        path.write_text(replace_sections(path.read_text(), sections))
    if as_json:
        emit(out, True)
    else:
        for row in out["thresholds"]:
            click.echo("  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                                 if k.startswith(("threshold", "ratio", "target", "avg_exit"))))


COMMANDS = (energy,)
