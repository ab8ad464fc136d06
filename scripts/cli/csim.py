"""The accelerator's C-simulation: csim verify, testbench, fuzz (golden vs C-sim on random and
adversarial inputs), crosscheck (the kernels against hls4ml's) and synthcheck (vendor-free
synthesizability checks)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from edgebert.cli.options import emit, json_option, labelled, load_hw, model_dir_option, task_option


@click.group()
def csim():
    """The HLS C++ accelerator in C-simulation (g++, the hls4ml wheel's ap_int headers)."""


def csim_inputs(task: str, model_dir: str | None, limit: int | None):
    """The artifact task and its first `limit` dev sentences with labels."""
    hw = load_hw(task, model_dir)
    _, enc, y = labelled(task, "dev", None, limit, hw.cfg)
    return hw, enc, y


def threshold_q16_option(threshold: float | None) -> int | None:
    if threshold is None:
        return None
    if threshold < 0:
        raise click.BadParameter("the entropy threshold must be >= 0", param_hint="--threshold")
    from edgebert.accel.artifact import threshold_q16
    return threshold_q16(threshold)


@csim.command("verify")
@task_option()
@model_dir_option()
@click.option("--variant", type=click.Choice(["native", "ap"]), default="native", show_default=True,
              help="native: C++ integers (fast); ap: the ap_int types Vitis HLS synthesizes.")
@click.option("--policy", type=click.Choice(["ee", "predictor"]), default="ee", show_default=True,
              help="ee: run until the entropy exit; predictor: also stop at the predicted layer.")
@click.option("--threshold", type=float, default=None, help="Entropy threshold (default: shipped).")
@click.option("--limit", type=int, default=None, help="Only the first N dev examples.")
@json_option()
def csim_verify(task, model_dir, variant, policy, threshold, limit, as_json):
    """Build the C-sim and check it against the golden model on the dev set, bit for bit."""
    from edgebert.sim.verify import verify
    hw, enc, y = csim_inputs(task, model_dir, limit)
    t0 = time.perf_counter()
    out = verify(hw, enc, y, variant, policy, threshold_q16_option(threshold))
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    emit(out, as_json)
    if out["mismatches"] or out["cycle_mismatches"]:
        sys.exit(1)


@csim.command("testbench")
@click.option("--variant", type=click.Choice(["native", "ap"]), default="native", show_default=True)
@click.option("--sanitize", is_flag=True, help="Build with AddressSanitizer + UndefinedBehaviorSanitizer.")
@click.option("--n", "array_n", default=16, show_default=True, help="MAC array size the build and vectors use.")
@click.option("--board", default=None, help="Build and vectors of a board's configuration (model_export/accel/boards.json).")
@task_option(required=False, help="Task of the whole-accelerator bench.")
@model_dir_option(help=None)
@click.option("--sentences", default=24, show_default=True, help="Dev sentences for the accelerator bench.")
@click.option("--out", "out_dir", default="build/vectors", show_default=True, help="Where vectors go.")
@json_option()
def csim_testbench(variant, sanitize, array_n, board, task, model_dir, sentences, out_dir, as_json):
    """Per-operator C++ testbenches and the whole-accelerator testbench on golden vectors."""
    from edgebert.sim import csim as cs
    from edgebert.sim import vectors
    defines, ramps = None, False
    if board:
        from edgebert.accel.builds import get_build
        build = get_build(board)
        array_n, defines = build.n, {k: v for k, v in build.defines.items() if k != "EB_N"}
        ramps = bool(build.limit("EB_RAMPS_IN_DDR"))
        limit = build.limit("EB_MAX_LEN")
    hw, enc, _ = csim_inputs(task, model_dir, sentences)
    if board:
        enc = [e for e in enc if len(e.ids) <= limit]
    ops = vectors.write_operator_vectors(Path(out_dir) / "operators", n=array_n)
    acc = vectors.write_accelerator_vectors(Path(out_dir) / task, hw, enc, n=array_n, policies=(0, 1),
                                            ramps_in_ddr=ramps)
    results = []
    for name in (*cs.TESTBENCHES, "accel"):
        exe = cs.build_testbench(name, variant, array_n, sanitize=sanitize,
                                 defines=defines if name == "accel" else None)
        run = cs.run_testbench(exe, acc if name == "accel" else ops, name)
        if not as_json:
            click.echo(f"{name:>10}: {run.passed} passed, {run.failed} failed"
                       + ("" if run.returncode == 0 else f" (exit {run.returncode})"))
        results.append(run)
    bad = [r for r in results if r.returncode != 0 or r.failed or not r.passed]
    for r in bad:
        click.echo(r.output[-2000:], err=True)
    summary = {"variant": variant, "sanitize": sanitize, "n": array_n, "testbenches": len(results),
               "passed": sum(r.passed for r in results), "failed": sum(r.failed for r in results),
               "failing_testbenches": [r.name for r in bad]}
    if as_json:
        emit(summary, True)
    if bad:
        sys.exit(1)


@csim.command("fuzz")
@click.option("--n", "n", type=click.IntRange(1), default=1000, show_default=True,
              help="Cases (one phase-1 + phase-2 sequence each).")
@click.option("--seed", default=0, show_default=True)
@click.option("--variant", type=click.Choice(["native", "ap"]), default=None,
              help="C-sim type family: native (default) or ap; for --replay, the recorded one.")
@click.option("--sanitize-sample", type=click.IntRange(0), default=1000, show_default=True,
              help="Cases also run on an ASan + UBSan build (0: none).")
@click.option("--jobs", type=click.IntRange(1), default=2, show_default=True, help="Worker processes.")
@click.option("--out", "out_dir", default=None, help="Where reproducers go (default build/fuzz).")
@click.option("--replay", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Run a reproducer's case.json again instead.")
@json_option()
def csim_fuzz(n, seed, variant, sanitize_sample, jobs, out_dir, replay, as_json):
    """Random and adversarial tasks and sentences: golden model vs C-sim, word by word."""
    from edgebert.sim import fuzz
    if replay:
        out = fuzz.replay(Path(replay), variant)
        emit(out, as_json)
        sys.exit(1 if out["mismatch"] else 0)
    variant, bar = variant or "native", None
    if not as_json:
        from tqdm import tqdm
        bar = tqdm(total=n, unit="case", desc=f"fuzz ({variant})")
    out = fuzz.fuzz(n, seed, variant, sanitize_sample, Path(out_dir) if out_dir else fuzz.OUT_DIR, jobs,
                    progress=bar.update if bar else None)
    if bar:
        bar.close()
    emit(out, as_json)
    if out["mismatches"] or out["sanitizer"]["clean"] is False:
        sys.exit(1)


@csim.command("crosscheck")
@click.option("--seed", default=0, show_default=True)
@click.option("--n", "n", default=2000, show_default=True,
              help="Rows for dense, softmax and LayerNorm (GELU and tanh take every word of [-8, 8)).")
@json_option()
def csim_crosscheck(seed, n, as_json):
    """The kernels against hls4ml's nnet_utils kernels on the same fixed-point inputs: error vs float."""
    from edgebert.sim import hls4ml_check
    if n < 1:
        raise click.BadParameter("must be >= 1", param_hint="--n")
    out = hls4ml_check.crosscheck(seed, n)
    if as_json:
        emit(out, True)
    else:
        click.echo(hls4ml_check.format_table(out))


@csim.command("synthcheck")
@click.option("--board", default=None, help="A board's build (model_export/accel/boards.json); default the default limits.")
@click.option("--variant", type=click.Choice(["ap", "native"]), default="ap", show_default=True)
@json_option()
def csim_synthcheck(board, variant, as_json):
    """What synthesis needs, checked with g++ alone: ap widths, call graph, buffer sizes."""
    from edgebert.sim import synthcheck
    defines = None
    if board:
        from edgebert.accel.builds import get_build
        defines = get_build(board).defines
    out = {"board": board or "default", **synthcheck.audit(variant, defines),
           "state_bytes": synthcheck.state_sizes(defines)}
    ok = out["max_ap_bits"] <= 64 and not (out["recursion"] or out["outside_calls"] or out["unbounded_stack"])
    emit({**out, "ok": ok}, as_json)
    if not ok:
        sys.exit(1)


COMMANDS = (csim,)
