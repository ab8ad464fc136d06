"""Benchmarks that print figures: bench csim, bench host."""
from __future__ import annotations

import click

from edgebert.cli.csim import csim_inputs
from edgebert.cli.options import emit, json_option, load_hw, model_dir_option, task_option


@click.group()
def bench():
    """Benchmarks that print figures (speed is measured here, never asserted in tests)."""


@bench.command("csim")
@task_option(help=None)
@model_dir_option(help=None)
@click.option("--policy", type=click.Choice(["ee", "predictor"]), default="ee", show_default=True)
@click.option("--limit", type=int, default=None)
@json_option()
def bench_csim(task, model_dir, policy, limit, as_json):
    """Dev-set throughput of the C-simulation with early exit (build time reported apart)."""
    from edgebert.sim.bench import csim_throughput
    hw, enc, y = csim_inputs(task, model_dir, limit)
    emit({"task": task, "policy": policy, **csim_throughput(hw, enc, y, policy)}, as_json)


@bench.command("host")
@task_option(required=False, help=None)
@click.option("--board", default="sim", show_default=True)
@model_dir_option(help=None)
@click.option("--limit", type=int, default=200, show_default=True)
@json_option()
def bench_host(task, board, model_dir, limit, as_json):
    """Per-step host cost per sentence (FINN-driver style): tokenize, pack, transfer + compute,
    DVFS decision, clock switch, unpack. Medians in microseconds."""
    from edgebert.core.tasks import get_task, read_examples
    from edgebert.runtime.boards import get_board
    from edgebert.sim.bench import host_steps
    board_, task_ = get_board(board), get_task(task)
    examples = read_examples(task_, "dev")[:limit]
    out = {"task": task_.name, "board": board_.name, "sentences": len(examples),
           **host_steps(load_hw(task_.name, model_dir), board_, examples),
           "note": "phase1/phase2 include the transfer and the C-simulated compute"}
    emit(out, as_json)


COMMANDS = (bench,)
