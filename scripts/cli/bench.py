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
@click.option("--board", default=None, help="Board (default: sim; zcu104 with --pipeline).")
@model_dir_option(help=None)
@click.option("--limit", type=int, default=None, help="Only the first N dev sentences (default: 200; all with --pipeline).")
@click.option("--pipeline", is_flag=True,
              help="Serial against pipelined throughput on the timing-faithful device, with the "
                   "per-stage prediction checked against measurement.")
@click.option("--calibrate", is_flag=True, help="With --pipeline: fit this machine's stage model first and write it.")
@click.option("--clock", "clock_mhz", type=float, default=None,
              help="With --pipeline: the PL clock (default: where host and device times are comparable).")
@click.option("--policy", default="ee", show_default=True, help="With --pipeline: the DVFS policy.")
@click.option("--cores", type=int, default=None, help="With --pipeline: cores the balancing may use (default: all).")
@click.option("--predict-for", "predict_for", default=None,
              help="With --pipeline: only predict, with this shipped stage model (e.g. cortex-a53, "
                   "cortex-a9) and --cores, for --board at its top clock; nothing is measured.")
@json_option()
def bench_host(task, board, model_dir, limit, pipeline, calibrate, clock_mhz, policy, cores, predict_for, as_json):
    """Per-step host cost per sentence (FINN-driver style): tokenize, pack, transfer + compute,
    DVFS decision, clock switch, unpack. Medians in microseconds. With --pipeline: the pipelined
    runner against the serial one (docs/host.md)."""
    from edgebert.core.tasks import get_task, read_examples
    from edgebert.runtime.boards import get_board
    task_ = get_task(task)
    if pipeline:
        emit(_bench_pipeline(task_, get_board(board or "zcu104"), model_dir, limit, calibrate, clock_mhz,
                             policy, cores, predict_for), as_json)
        return
    if calibrate or clock_mhz is not None or cores is not None or predict_for:
        raise click.BadParameter("--calibrate, --clock, --cores and --predict-for go with --pipeline")
    from edgebert.sim.bench import host_steps
    board_ = get_board(board or "sim")
    examples = read_examples(task_, "dev")[:limit or 200]
    out = {"task": task_.name, "board": board_.name, "sentences": len(examples),
           **host_steps(load_hw(task_.name, model_dir), board_, examples),
           "note": "phase1/phase2 include the transfer and the C-simulated compute"}
    emit(out, as_json)


def _bench_pipeline(task_, board_, model_dir, limit, calibrate, clock_mhz, policy, cores, predict_for) -> dict:
    from edgebert.accel.checksum import artifact_dir, artifact_sha256
    from edgebert.core.tokenization import Tokenizer
    from edgebert.runtime.inputs import max_tokens, task_items
    from edgebert.runtime.policy import check_policy
    from edgebert.runtime.runner import latency_target
    from edgebert.sim.pipeline_bench import bench_pipeline, predict_pipeline
    hw = load_hw(task_.name, model_dir)
    items = task_items(task_.name, Tokenizer(max_tokens(hw, board_.name)), limit, defer=True)
    if predict_for:
        from edgebert.runtime import stage_model
        if cores is None:
            raise click.BadParameter("--predict-for needs --cores (the board's application cores)")
        return predict_pipeline(hw, board_, items, check_policy(policy), latency_target(board_),
                                artifact_sha256(artifact_dir(model_dir)), stage_model.load(predict_for), cores)
    return bench_pipeline(hw, board_, items, check_policy(policy), latency_target(board_),
                          artifact_sha256(artifact_dir(model_dir)), clock_mhz, calibrate, cores)


COMMANDS = (bench,)
