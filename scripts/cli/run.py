"""Running sentences through the accelerator: run, tokenize."""
from __future__ import annotations

import json
from pathlib import Path

import click

from edgebert.cli.options import (
    board_option,
    emit,
    json_option,
    load_hw,
    make_backend,
    model_dir_option,
    policy_option,
    target_option,
    task_option,
)


@click.command("run")
@click.option("--backend", "backend_name", type=click.Choice(["csim", "golden", "pynq"]), default="csim",
              show_default=True, help="csim: the C-simulation; golden: the numpy golden model on the "
                                      "host's cores (the CPU baseline); pynq: the board.")
@board_option("Board description: sim (default for csim and golden), zcu104, kv260, pynq-z2.", default=None)
@task_option(help="Task whose model runs (sst2, mrpc); its dev set unless --input.")
@click.option("--input", "input_path", default=None,
              help="Raw text, one sentence a line (a tab between the two of a pair); '-' for stdin.")
@click.option("--tokens", "tokens_path", default=None,
              help="Pre-tokenized input from `edgebert tokenize` (boards without a tokenizers wheel).")
@policy_option(help="DVFS policy (docs/host.md): base, ee, lai (EdgeBERT), lai-slack "
                                      "(layer 1 lowered too), lai-binned (the binned predictor), "
                                      "oracle (true exit, reference pass).")
@target_option()
@click.option("--out", "out_path", required=True, help="Append-only JSONL log; rerun to resume.")
@model_dir_option()
@click.option("--overlay", default=None, help="Bitstream (.bit with its .hwh) for --backend pynq.")
@click.option("--limit", type=int, default=None, help="Only the first N sentences.")
@click.option("--pipeline", type=click.Choice(["on", "auto"]), is_flag=False, flag_value="on", default=None,
              help="Overlap the host stages with the device (docs/host.md); `auto` chooses the mapping "
                   "from this machine's stage model and prints the predicted bottleneck.")
@json_option()
def run_cmd(backend_name, board, task, input_path, tokens_path, policy, target_ms, out_path, model_dir, overlay,
            limit, pipeline, as_json):
    """Stream sentences through the accelerator with a DVFS policy; one JSON line per sentence."""
    from edgebert.accel.checksum import artifact_dir, artifact_sha256
    from edgebert.core.tasks import get_task
    from edgebert.runtime.boards import get_board
    from edgebert.runtime.inputs import input_items, max_tokens
    from edgebert.runtime.runner import latency_target, run, run_header
    task_ = get_task(task)
    board_ = get_board(board or ("sim" if backend_name in ("csim", "golden") else ""))
    target = latency_target(board_, target_ms)
    if input_path and tokens_path:
        raise click.BadParameter("give --input or --tokens, not both")
    hw = load_hw(task_.name, model_dir)
    items, source = input_items(task_, max_tokens(hw, board_.name), input_path, tokens_path,
                                hw.cfg.vocab_size, limit, defer=True)
    backend = make_backend(backend_name, board_, overlay)
    header = run_header(hw, policy, target, backend_name, board_, source, artifact_sha256(artifact_dir(model_dir)))
    with backend:
        if pipeline:
            summary = _run_pipelined(backend, hw, items, policy, target, Path(out_path), header, pipeline)
        else:
            summary = run(backend, hw, items, policy, target, Path(out_path), header)
    summary["out"] = out_path
    emit(summary, as_json)


def _run_pipelined(backend, hw, items, policy, target, out, header, pipeline: str) -> dict:
    from edgebert.runtime.pipeline import Mapping, plan, run_pipelined
    mapping, chosen = (plan(hw, backend, items, policy, target) if pipeline == "auto" else (Mapping(), None))
    click.echo(f"pipeline: {mapping.describe()}", err=True)
    if chosen and "predicted" in chosen:
        p = chosen["predicted"]
        click.echo(f"pipeline: predicted bottleneck {p['bottleneck']} ({p['period_ms']:.3f} ms a sentence, "
                   f"{p['sentences_per_s']:g} sentences/s; serial {chosen['serial_period_ms']:.3f} ms)", err=True)
    summary = run_pipelined(backend, hw, items, policy, target, out, header, mapping)
    summary["pipeline"] = {"mode": pipeline, **vars(mapping),
                           **({"predicted": chosen["predicted"]} if chosen and "predicted" in chosen else {})}
    return summary


@click.command()
@task_option(help="Task whose dev set (or --input) is tokenized.")
@click.option("--input", "input_path", default=None, help="Raw text, one sentence a line; '-' for stdin.")
@board_option("Truncate to this board's build (model_export/accel/boards.json).", default=None)
@click.option("--out", "out_path", required=True, help="Token records (JSONL) for `edgebert run --tokens`.")
def tokenize(task, input_path, board, out_path):
    """Tokenize on a workstation for boards that cannot install the tokenizers wheel."""
    from edgebert.core.tasks import get_task
    from edgebert.runtime.inputs import input_items, max_tokens
    task_ = get_task(task)
    items, _ = input_items(task_, max_tokens(load_hw(task_.name), board), input_path)
    lines = [json.dumps({"id": it.id, "ids": it.encoded.ids, "token_types": it.encoded.token_types,
                         "label": it.label}) for it in items if it.encoded]
    Path(out_path).write_text("\n".join(lines) + "\n")
    errors, blank = sum(1 for it in items if it.error), sum(1 for it in items if it.skipped)
    left_out = ([f"{errors} with errors"] if errors else []) + ([f"{blank} empty or blank"] if blank else [])
    click.echo(f"{len(lines)} token records -> {out_path}" + (f" (lines left out: {', '.join(left_out)})" if left_out else ""))


COMMANDS = (run_cmd, tokenize)
