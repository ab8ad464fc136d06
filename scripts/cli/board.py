"""Boards and hardware planning: build (the resource estimate), power sweep, cycles."""
from __future__ import annotations

import json
from pathlib import Path

import click

from edgebert.cli.options import emit, json_option, load_hw, make_backend, model_dir_option, task_option


@click.command()
@click.option("--board", required=True, help="zcu104, kv260 or pynq-z2 (model_export/accel/boards.json).")
@click.option("--estimate", is_flag=True, help="Print the resource estimate against the part's capacity.")
@model_dir_option(help="Model package (a shipped name or a folder) whose task images are sized in the "
                      "build's weight store (default models/tiny).")
@json_option()
def build(board, estimate, model_dir, as_json):
    """Board builds: the resource estimate (--estimate); the build itself is `make -C bitstreams BOARD=B`."""
    from edgebert.accel.builds import get_build
    from edgebert.accel.fit import board_fit
    from edgebert.core.config import load_model_config
    from edgebert.runtime.boards import get_board
    b = get_build(board)
    if not estimate:
        raise click.UsageError(f"building needs Vitis HLS and Vivado: run `make -C bitstreams BOARD={board}` "
                               f"(docs/board.md); `edgebert build --board {board} --estimate` prints the estimate")
    out, buffers = board_fit(load_model_config(get_board(board).model_config), b)
    out["task_images"] = _task_images(b, model_dir)
    if not as_json:
        for row in buffers:
            click.echo(f"{row['buffer']:>10}: {row['banks']:>3} x {row['depth']:>6} x {row['width']:>3} bit -> "
                       + (f"{row['uram']} URAM" if "uram" in row else f"{row['bram36']:g} BRAM36"))
    emit(out, as_json)


def _task_images(b, model_dir) -> dict:
    """Each shipped task on the build (edgebert.accel.fit.task_fit)."""
    from edgebert.accel.artifact import load_artifact
    from edgebert.accel.checksum import artifact_dir
    from edgebert.accel.fit import task_fit
    return {name: task_fit(task, b) for name, task in load_artifact(artifact_dir(model_dir)).items()}


@click.group()
def power():
    """Power measured on a board."""


@power.command("sweep")
@click.option("--board", required=True, help="zcu104 (PMBus), kv260 (hwmon) or pynq-z2 (--meter).")
@click.option("--overlay", required=True, help="The board's bitstream (.bit with its .hwh).")
@task_option(required=False, help=None)
@click.option("--clocks", default=None, help="Comma-separated PL clocks in MHz (default: four of the board's).")
@click.option("--sentences", default=200, show_default=True, help="Sentences per measurement window.")
@click.option("--idle-s", default=2.0, show_default=True, help="Seconds of idle power per clock.")
@click.option("--meter", default=None, help="External meter log (CSV unix_time_s,watts) instead of the board's sensor.")
@click.option("--out", "out_path", required=True, help="JSON result, for `edgebert report --measured`.")
@json_option()
def power_sweep_cmd(board, overlay, task, clocks, sentences, idle_s, meter, out_path, as_json):
    """Energy per sentence against the PL clock, measured from the board's power sensor."""
    from edgebert.core.tokenization import Tokenizer
    from edgebert.runtime.boards import get_board
    from edgebert.runtime.inputs import max_tokens, task_items
    from edgebert.runtime.measure import power_sweep, sweep_clocks
    from edgebert.runtime.power import power_source
    board_ = get_board(board)
    try:
        wanted = [float(c) for c in clocks.split(",")] if clocks else None
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--clocks") from e
    chosen = sweep_clocks(board_, wanted)
    hw = load_hw(task)
    items = task_items(task, Tokenizer(max_tokens(hw, board)))
    source = power_source(board_, meter)
    with make_backend("pynq", board_, overlay) as backend:
        result = power_sweep(backend, hw, items, chosen, source, sentences, idle_s,
                             progress=lambda r: click.echo(f"{r['clock_mhz']:>8g} MHz: "
                                                           f"{r['energy_mj_per_sentence']:.4f} mJ/sentence", err=True))
    Path(out_path).write_text(json.dumps(result, indent=1))
    emit(result, as_json)


@click.command()
@click.option("--config", "config_name", default="paper", show_default=True,
              help="Model config (tiny, edge, paper) or a JSON file.")
@click.option("--n", "array_n", default=16, show_default=True, help="MAC array size n (n x n).")
@click.option("--tokens", type=int, default=None, help="Sentence length (default: the config's max_len).")
@click.option("--live-heads", type=int, default=None, help="Heads with a non-zero span (default: all).")
@json_option()
def cycles(config_name, array_n, tokens, live_heads, as_json):
    """Modeled cycles of one layer against the ideal MAC-bound count, and MAC utilization."""
    from edgebert.accel.cost import Schedule
    from edgebert.core.config import load_model_config
    cfg = load_model_config(config_name)
    if array_n < 1:
        raise click.BadParameter("the array size must be >= 1", param_hint="--n")
    if tokens is not None and not 1 <= tokens <= cfg.max_len:
        raise click.BadParameter(f"tokens must be in 1..{cfg.max_len}", param_hint="--tokens")
    if live_heads is not None and not 0 <= live_heads <= cfg.heads:
        raise click.BadParameter(f"live heads must be in 0..{cfg.heads}", param_hint="--live-heads")
    emit(Schedule(cfg, array_n, live_heads).layer_report(tokens), as_json)


COMMANDS = (build, power, cycles)
