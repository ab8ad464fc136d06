"""`edgebert`: the project's one command line (click)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

THRESHOLD_GRID = [round(float(t), 2) for t in np.arange(0.0, 0.70, 0.02)]


def _emit(obj: dict, as_json: bool) -> None:
    """Human-readable lines, and with --json the summary as the last line."""
    if as_json:
        click.echo(json.dumps(obj))
    else:
        for k, v in obj.items():
            click.echo(f"{k:>28}: {v}")


@click.group()
def main():
    """EdgeBERT on FPGA: train, compress, evaluate and (later) run the accelerator."""


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Training config (JSON), e.g. configs/train/sst2_tiny.json.")
@click.option("--data", "glue_dir", type=click.Path(file_okay=False), default=None,
              help="Training data: a folder with glue/<TASK>/train.tsv, or the GLUE folder itself (default $EDGEBERT_DATA).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run folder (default runs/<config name>).")
@click.option("--steps", default=None, help="Comma-separated subset of the pipeline steps.")
@click.option("--force", is_flag=True, help="Re-run steps whose reports already exist.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as one JSON line.")
def train(config_path, glue_dir, out, steps, force, as_json):
    """Run the training pipeline (resumable: finished steps are skipped)."""
    from edgebert.core.config import load_train_config
    from edgebert.train.pipeline import STEPS, run_pipeline
    cfg = load_train_config(config_path)
    out = Path(out or Path("runs") / Path(config_path).stem)
    chosen = tuple(s.strip() for s in steps.split(",")) if steps else STEPS
    summary = run_pipeline(cfg, out, Path(glue_dir) if glue_dir else None, chosen, force)
    brief = {"run": str(out), "steps": list(summary)}
    if "calibrate" in summary:
        brief["threshold"] = summary["calibrate"]["threshold"]
    _emit(brief, as_json)


def _load(task: str, model_dir: str | None):
    from edgebert.core.paths import DEFAULT_MODEL_DIR
    from edgebert.train.package import load_task
    try:
        return load_task(Path(model_dir) if model_dir else DEFAULT_MODEL_DIR, task)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from e


def _labelled(task_name: str, split: str, glue_dir: str | None, limit: int | None, cfg):
    from edgebert.core.tasks import encode_examples, get_task, read_examples
    from edgebert.core.tokenization import Tokenizer
    try:
        task = get_task(task_name)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--task") from e
    examples = read_examples(task, split, Path(glue_dir) if glue_dir else None)[:limit]
    tokenizer = Tokenizer(cfg.max_len)
    return task, encode_examples(examples, tokenizer), np.array([e.label for e in examples])


@main.command("eval")
@click.option("--task", required=True, help="GLUE task: sst2 or mrpc.")
@click.option("--backend", type=click.Choice(["torch", "golden"]), default="torch", show_default=True,
              help="torch: the float model; golden: the accelerator's integer arithmetic (numpy).")
@click.option("--model-dir", default=None, help="Model package folder (default models/tiny).")
@click.option("--split", type=click.Choice(["dev", "train"]), default="dev", show_default=True)
@click.option("--data", "glue_dir", default=None, help="GLUE folder (default: shipped dev sets).")
@click.option("--threshold", type=float, default=None, help="Entropy threshold (default: shipped).")
@click.option("--limit", type=int, default=None, help="Only the first N examples.")
@click.option("--json", "as_json", is_flag=True)
def eval_cmd(task, backend, model_dir, split, glue_dir, threshold, limit, as_json):
    """Accuracy with entropy early exit, with and without the exit predictor."""
    from edgebert.train import evaluate as ev
    from edgebert.train.package import predictor_table
    if threshold is not None and threshold < 0:
        raise click.BadParameter("the entropy threshold must be >= 0", param_hint="--threshold")
    model, manifest = _load(task, model_dir)
    t = threshold if threshold is not None else manifest["threshold"]
    task_, enc, y = _labelled(task, split, glue_dir, limit, model.cfg)
    extra, t_cmp = {}, t
    if backend == "golden":
        from edgebert.accel.artifact import threshold_q16
        from edgebert.accel.golden import GoldenModel, evaluate_set
        t_q16 = threshold_q16(t)
        run = evaluate_set(GoldenModel(_load_hw(task, model_dir)), enc, t_q16)
        t_cmp = t_q16 / 2.0 ** 16         # the threshold the hardware compares against, exactly
        logits, ent, predicted = run["logits"], run["entropies"], run["predicted"]
        extra.update(threshold_q16=t_q16, saturations=run["saturations"])
    else:
        logits = ev.all_layer_logits(model, enc)
        ent, predicted = ev.layer_entropies(logits), None
    pair = "f1" in task_.metrics
    ee = ev.early_exit_metrics(logits, y, t_cmp, with_f1=pair, entropies=ent)
    pm = ev.predictor_metrics(logits, y, predictor_table(manifest), t_cmp, ent, predicted)
    out = {"task": task_.name, "split": split, "backend": backend, "n": int(len(y)),
           "accuracy": ee["accuracy"], "accuracy_all_layers": float((logits[:, -1].argmax(-1) == y).mean()),
           "threshold": t, "avg_exit_layer": ee["avg_exit_layer"],
           "expected_saving": ee["expected_saving"], "exit_histogram": ee["exit_histogram"],
           "accuracy_with_predictor": pm["accuracy"],
           "avg_exit_layer_with_predictor": pm["avg_exit_layer"], "predictor": pm["quality"],
           "per_layer_accuracy": [round(a, 4) for a in ev.per_layer_accuracy(logits, y)]}
    if pair:
        out["f1"] = ee["f1"]
        out["f1_all_layers"] = ev.f1_score(logits[:, -1].argmax(-1), y)
    out["spans"] = manifest["spans"]
    out["removable_heads"] = manifest.get("removable_heads", [])
    out["teacher"] = manifest.get("teacher", {})
    out.update(extra)
    _emit(out, as_json)


def _load_hw(task: str, model_dir: str | None):
    from edgebert.accel.artifact import ArtifactError, load_artifact
    from edgebert.core.paths import DEFAULT_MODEL_DIR
    path = (Path(model_dir) if model_dir else DEFAULT_MODEL_DIR) / "accel"
    try:
        return load_artifact(path, [task])[task]
    except ArtifactError as e:
        raise click.ClickException(str(e)) from e


@main.command("export")
@click.option("--model-dir", default=None, help="Model package folder (default models/tiny).")
@click.option("--out", "out_dir", default=None, help="Artifact folder (default <model-dir>/accel).")
@click.option("--calibrate", is_flag=True,
              help="Calibrate activation formats on training sentences for tasks trained without QAT.")
@click.option("--data", "glue_dir", default=None, help="GLUE folder with the training sets (for --calibrate).")
@click.option("--sentences", default=4000, show_default=True, help="Calibration sentences per task.")
@click.option("--json", "as_json", is_flag=True)
def export_cmd(model_dir, out_dir, calibrate, glue_dir, sentences, as_json):
    """Write the accelerator artifact (integer codes, words, tables) of every packaged task."""
    import random

    from edgebert.core.paths import DEFAULT_MODEL_DIR
    from edgebert.core.tasks import encode_examples, get_task, read_examples
    from edgebert.core.tokenization import Tokenizer
    from edgebert.train.export import export_model_dir
    from edgebert.train.quant import calibrate_formats

    def calibrate_fn(task, model):
        examples = read_examples(get_task(task), "train", Path(glue_dir) if glue_dir else None)
        examples = random.Random(0).sample(examples, min(sentences, len(examples)))
        return calibrate_formats(model, encode_examples(examples, Tokenizer(model.cfg.max_len)))

    try:
        report = export_model_dir(Path(model_dir) if model_dir else DEFAULT_MODEL_DIR,
                                  calibrate_fn if calibrate else None, out_dir)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    _emit(report, as_json)


def numerics_sections(formats: dict, errors: list[dict], ladder: list[dict]) -> dict[str, str]:
    from edgebert.core.docgen import markdown
    fmt_rows = [{"site": k, "format": f"Q{15 - v}.{v}" if v <= 15 else f"2^-{v}",
                 "lsb": 2.0 ** -v, "range": f"+-{(2 ** 15 - 1) / 2 ** v:.4g}"} for k, v in formats.items()]
    return {"formats": markdown(fmt_rows, ["site", "format", "lsb", "range"]),
            "special_functions": markdown(errors, ["function", "format", "inputs", "method",
                                                   "max_abs_error", "max_error_lsb"]),
            "ladder": markdown(ladder, ["step", "accuracy", "avg_exit_layer", "changed_vs_float"])}


@main.command()
@click.option("--task", default="sst2", show_default=True)
@click.option("--model-dir", default=None, help="Model package folder (default models/tiny).")
@click.option("--update-doc", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Rewrite the generated sections of this markdown file (docs/numerics.md).")
@click.option("--json", "as_json", is_flag=True)
def numerics(task, model_dir, update_doc, as_json):
    """Special-function error table and the accuracy ladder float -> hardware (dev set)."""
    from edgebert.train.ladder import accuracy_ladder
    from edgebert.train.numerics_errors import special_function_errors
    from edgebert.train.package import predictor_table
    model, manifest = _load(task, model_dir)
    hw = _load_hw(task, model_dir)
    _, enc, y = _labelled(task, "dev", None, None, model.cfg)
    errors = special_function_errors(hw.formats, hw.cfg.hidden)
    ladder = accuracy_ladder(model, hw, predictor_table(manifest), enc, y)
    sections = numerics_sections(hw.formats, errors, ladder)
    if update_doc:
        from edgebert.core.docgen import replace_sections
        path = Path(update_doc)
        path.write_text(replace_sections(path.read_text(), sections))
    if not as_json:
        for text in sections.values():
            click.echo(text)
    else:
        _emit({"task": task, "formats": hw.formats, "special_functions": errors, "ladder": ladder}, True)


@main.command()
@click.option("--task", required=True)
@click.option("--model-dir", default=None)
@click.option("--out", "out_dir", default=None, help="Folder for sweep.json and sweep.png.")
@click.option("--json", "as_json", is_flag=True)
def sweep(task, model_dir, out_dir, as_json):
    """Early-exit sweep over thresholds (DeeBERT convention): JSON and a plot."""
    from edgebert.train import evaluate as ev
    from edgebert.train.plots import plot_sweep
    model, manifest = _load(task, model_dir)
    task_, enc, y = _labelled(task, "dev", None, None, model.cfg)
    result = ev.sweep(ev.all_layer_logits(model, enc), y, THRESHOLD_GRID)
    result.update(task=task_.name, split="dev", n=int(len(y)), shipped_threshold=manifest["threshold"])
    out = Path(out_dir or Path("reports") / f"sweep-{task_.name}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(result, indent=1))
    plot_sweep(result, out / "sweep.png")
    _emit({"task": task_.name, "out": str(out), "points": len(result["thresholds"])}, as_json)


@main.command("predictor")
@click.option("--task", required=True)
@click.option("--model-dir", default=None)
@click.option("--data", "glue_dir", default=None, help="GLUE folder with the training set.")
@click.option("--sentences", default=10000, show_default=True, help="Training sentences to use.")
@click.option("--entropies", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Build from an (N, L) comma-separated entropy file instead of the model.")
@click.option("--threshold", type=float, default=None)
@click.option("--out", "out_csv", default=None, help="Write the table as CSV (EdgeBERT's layout).")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def predictor_cmd(task, model_dir, glue_dir, sentences, entropies, threshold, out_csv, seed, as_json):
    """Build EdgeBERT's exit-predictor table and report its quality on dev."""
    import random

    from edgebert.accel import predictor
    from edgebert.train import evaluate as ev
    model, manifest = _load(task, model_dir)
    t = threshold if threshold is not None else manifest["threshold"]
    if entropies:
        train_ent = np.loadtxt(entropies, delimiter=",", ndmin=2)
        source = str(entropies)
    else:
        _, enc, _ = _labelled(task, "train", glue_dir, None, model.cfg)
        pick = random.Random(seed).sample(range(len(enc)), min(sentences, len(enc)))
        train_ent = ev.layer_entropies(ev.all_layer_logits(model, [enc[i] for i in pick]))
        source = f"{len(pick)} training sentences"
    table = predictor.fit_table(train_ent, seed=seed)
    _, dev_enc, dev_y = _labelled(task, "dev", None, None, model.cfg)
    dev = ev.predictor_metrics(ev.all_layer_logits(model, dev_enc), dev_y, table, t)
    out = {"task": task, "threshold": t, "built_from": source, "rows": int(table.shape[0]),
           "columns": int(table.shape[1]), "dev": dev["quality"],
           "dev_accuracy_with_predictor": dev["accuracy"]}
    if out_csv:
        grid = np.arange(predictor.ROWS)[:, None] * predictor.STEP
        np.savetxt(out_csv, np.hstack([grid, table]), delimiter=",", fmt="%.6f")
        out["out"] = out_csv
    _emit(out, as_json)
@main.command("run")
@click.option("--backend", "backend_name", type=click.Choice(["csim", "pynq"]), default="csim", show_default=True)
@click.option("--board", default=None, help="Board description: sim (default for csim), zcu104, kv260, pynq-z2.")
@click.option("--task", required=True, help="Task whose model runs (sst2, mrpc); its dev set unless --input.")
@click.option("--input", "input_path", default=None,
              help="Raw text, one sentence a line (a tab between the two of a pair); '-' for stdin.")
@click.option("--tokens", "tokens_path", default=None,
              help="Pre-tokenized input from `edgebert tokenize` (boards without a tokenizers wheel).")
@click.option("--policy", type=click.Choice(["base", "ee", "lai", "oracle"]), default="lai", show_default=True)
@click.option("--latency-target-ms", "target_ms", type=float, default=None,
              help="Per-sentence latency target (default: the board's, docs/host.md).")
@click.option("--out", "out_path", required=True, help="Append-only JSONL log; rerun to resume.")
@click.option("--model-dir", default=None, help="Model package folder (default models/tiny).")
@click.option("--overlay", default=None, help="Bitstream (.bit with its .hwh) for --backend pynq.")
@click.option("--limit", type=int, default=None, help="Only the first N sentences.")
@click.option("--json", "as_json", is_flag=True)
def run_cmd(backend_name, board, task, input_path, tokens_path, policy, target_ms, out_path, model_dir, overlay,
            limit, as_json):
    """Stream sentences through the accelerator with a DVFS policy; one JSON line per sentence."""
    import hashlib

    from edgebert.core.tasks import get_task
    from edgebert.runtime.boards import get_board
    from edgebert.runtime.runner import RunLogError, run, task_items, text_items, token_items
    try:
        task_ = get_task(task)
        board_ = get_board(board or ("sim" if backend_name == "csim" else ""))
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    target = board_.default_target_ms if target_ms is None else target_ms
    if not 0 < target <= 60_000:
        raise click.BadParameter("the latency target must be in (0, 60000] ms", param_hint="--latency-target-ms")
    hw = _load_hw(task_.name, model_dir)
    max_len = hw.cfg.max_len
    if board_.name != "sim":                 # the board's build may hold shorter sentences
        from edgebert.accel.builds import get_build
        max_len = min(max_len, get_build(board_.name).limit("EB_MAX_LEN"))
    if input_path and tokens_path:
        raise click.BadParameter("give --input or --tokens, not both")
    if tokens_path:
        raw = _read_bytes(tokens_path)
        items, source = token_items(raw, hw.cfg.vocab_size, max_len)[:limit], f"tokens:{hashlib.sha256(raw).hexdigest()[:16]}"
    else:
        from edgebert.core.tokenization import Tokenizer
        tok = Tokenizer(max_len)
        if input_path:
            raw = sys.stdin.buffer.read() if input_path == "-" else _read_bytes(input_path)
            items, source = text_items(raw, tok, task_.pair)[:limit], f"sha256:{hashlib.sha256(raw).hexdigest()[:16]}"
        else:
            items, source = task_items(task_.name, tok, limit), "dev"
    backend = _make_backend(backend_name, board_, overlay)
    header = {"task": task_.name, "policy": policy, "target_ms": target, "backend": backend_name,
              "board": board_.name, "threshold_q16": hw.threshold_q16, "input": source,
              "array_n": board_.array_n}
    from edgebert.runtime.pynq_backend import AcceleratorError, AcceleratorTimeout
    try:
        with backend:
            summary = run(backend, hw, items, policy, target, Path(out_path), header)
    except (RunLogError, AcceleratorTimeout, AcceleratorError) as e:
        raise click.ClickException(f"{e} (the log {out_path} keeps every finished sentence; rerun to resume)") from e
    summary["out"] = out_path
    _emit(summary, as_json)


@main.command()
@click.option("--task", required=True, help="Task whose dev set (or --input) is tokenized.")
@click.option("--input", "input_path", default=None, help="Raw text, one sentence a line; '-' for stdin.")
@click.option("--board", default=None, help="Truncate to this board's build (hls/tcl/boards.tcl).")
@click.option("--out", "out_path", required=True, help="Token records (JSONL) for `edgebert run --tokens`.")
def tokenize(task, input_path, board, out_path):
    """Tokenize on a workstation for boards that cannot install the tokenizers wheel."""
    from edgebert.core.tasks import get_task
    from edgebert.core.tokenization import Tokenizer
    from edgebert.runtime.runner import task_items, text_items
    try:
        task_ = get_task(task)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--task") from e
    max_len = _load_hw(task_.name, None).cfg.max_len
    if board:
        from edgebert.accel.builds import get_build
        max_len = min(max_len, get_build(board).limit("EB_MAX_LEN"))
    tok = Tokenizer(max_len)
    if input_path:
        raw = sys.stdin.buffer.read() if input_path == "-" else _read_bytes(input_path)
        items = text_items(raw, tok, task_.pair)
    else:
        items = task_items(task_.name, tok)
    lines = [json.dumps({"id": it.id, "ids": it.encoded.ids, "token_types": it.encoded.token_types,
                         "label": it.label}) for it in items if it.encoded]
    Path(out_path).write_text("\n".join(lines) + "\n")
    skipped = sum(1 for it in items if not it.encoded)
    click.echo(f"{len(lines)} token records -> {out_path}" + (f" ({skipped} lines skipped: errors)" if skipped else ""))


def _read_bytes(path: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise click.BadParameter(f"no such file: {path}", param_hint="--input")
    return p.read_bytes()


def _make_backend(name: str, board, overlay):
    from edgebert.sim.csim import CSimError
    try:
        if name == "csim":
            from edgebert.sim.backend import CSimBackend
            return CSimBackend(board)
        from edgebert.runtime.pynq_backend import OverlayError, PynqBackend
        if not overlay:
            raise click.BadParameter("--backend pynq needs --overlay BITSTREAM.bit", param_hint="--overlay")
        try:
            return PynqBackend(board, overlay)
        except OverlayError as e:
            raise click.ClickException(str(e)) from e
    except CSimError as e:
        raise click.ClickException(str(e)) from e


# ---- the accelerator's C-simulation ---------------------------------------------------------
@main.group()
def csim():
    """The HLS C++ accelerator in C-simulation (g++, the hls4ml wheel's ap_int headers)."""


def _csim_inputs(task, model_dir, limit):
    hw = _load_hw(task, model_dir)
    _, enc, y = _labelled(task, "dev", None, limit, hw.cfg)
    return hw, enc, y


def _threshold_q16(threshold):
    if threshold is None:
        return None
    if threshold < 0:
        raise click.BadParameter("the entropy threshold must be >= 0", param_hint="--threshold")
    from edgebert.accel.artifact import threshold_q16
    return threshold_q16(threshold)


@csim.command("verify")
@click.option("--task", required=True, help="GLUE task: sst2 or mrpc.")
@click.option("--model-dir", default=None, help="Model package folder (default models/tiny).")
@click.option("--variant", type=click.Choice(["native", "ap"]), default="native", show_default=True,
              help="native: C++ integers (fast); ap: the ap_int types Vitis HLS synthesizes.")
@click.option("--policy", type=click.Choice(["ee", "predictor"]), default="ee", show_default=True,
              help="ee: run until the entropy exit; predictor: also stop at the predicted layer.")
@click.option("--threshold", type=float, default=None, help="Entropy threshold (default: shipped).")
@click.option("--limit", type=int, default=None, help="Only the first N dev examples.")
@click.option("--json", "as_json", is_flag=True)
def csim_verify(task, model_dir, variant, policy, threshold, limit, as_json):
    """Build the C-sim and check it against the golden model on the dev set, bit for bit."""
    import time

    from edgebert.sim.csim import CSimError
    from edgebert.sim.verify import verify
    hw, enc, y = _csim_inputs(task, model_dir, limit)
    t0 = time.perf_counter()
    try:
        out = verify(hw, enc, y, variant, policy, _threshold_q16(threshold))
    except CSimError as e:
        raise click.ClickException(str(e)) from e
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    _emit(out, as_json)
    if out["mismatches"] or out["cycle_mismatches"]:
        sys.exit(1)


@csim.command("testbench")
@click.option("--variant", type=click.Choice(["native", "ap"]), default="native", show_default=True)
@click.option("--sanitize", is_flag=True, help="Build with AddressSanitizer + UndefinedBehaviorSanitizer.")
@click.option("--n", "array_n", default=16, show_default=True, help="MAC array size the build and vectors use.")
@click.option("--board", default=None, help="Build and vectors of a board's configuration (hls/tcl/boards.tcl).")
@click.option("--task", default="sst2", show_default=True, help="Task of the whole-accelerator bench.")
@click.option("--model-dir", default=None)
@click.option("--sentences", default=24, show_default=True, help="Dev sentences for the accelerator bench.")
@click.option("--out", "out_dir", default="build/vectors", show_default=True, help="Where vectors go.")
@click.option("--json", "as_json", is_flag=True)
def csim_testbench(variant, sanitize, array_n, board, task, model_dir, sentences, out_dir, as_json):
    """Per-operator C++ testbenches and the whole-accelerator testbench on golden vectors."""
    from edgebert.sim import csim as cs
    from edgebert.sim import vectors
    defines, ramps = None, False
    if board:
        from edgebert.accel.builds import get_build
        try:
            build = get_build(board)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--board") from e
        array_n, defines = build.n, {k: v for k, v in build.defines.items() if k != "EB_N"}
        ramps = bool(build.limit("EB_RAMPS_IN_DDR"))
        limit = build.limit("EB_MAX_LEN")
    hw, enc, _ = _csim_inputs(task, model_dir, sentences)
    if board:
        enc = [e for e in enc if len(e.ids) <= limit]
    ops = vectors.write_operator_vectors(Path(out_dir) / "operators", n=array_n)
    acc = vectors.write_accelerator_vectors(Path(out_dir) / task, hw, enc, n=array_n, policies=(0, 1),
                                            ramps_in_ddr=ramps)
    results = []
    try:
        for name in (*cs.TESTBENCHES, "accel"):
            exe = cs.build_testbench(name, variant, array_n, sanitize=sanitize,
                                     defines=defines if name == "accel" else None)
            run = cs.run_testbench(exe, acc if name == "accel" else ops, name)
            if not as_json:
                click.echo(f"{name:>10}: {run.passed} passed, {run.failed} failed"
                           + ("" if run.returncode == 0 else f" (exit {run.returncode})"))
            results.append(run)
    except cs.CSimError as e:
        raise click.ClickException(str(e)) from e
    bad = [r for r in results if r.returncode != 0 or r.failed or not r.passed]
    for r in bad:
        click.echo(r.output[-2000:], err=True)
    summary = {"variant": variant, "sanitize": sanitize, "n": array_n, "testbenches": len(results),
               "passed": sum(r.passed for r in results), "failed": sum(r.failed for r in results),
               "failing_testbenches": [r.name for r in bad]}
    if as_json:
        _emit(summary, True)
    if bad:
        sys.exit(1)


@main.group()
def bench():
    """Benchmarks that print figures (speed is measured here, never asserted in tests)."""


@bench.command("csim")
@click.option("--task", required=True)
@click.option("--model-dir", default=None)
@click.option("--policy", type=click.Choice(["ee", "predictor"]), default="ee", show_default=True)
@click.option("--limit", type=int, default=None)
@click.option("--json", "as_json", is_flag=True)
def bench_csim(task, model_dir, policy, limit, as_json):
    """Dev-set throughput of the C-simulation with early exit (build time reported apart)."""
    import time

    from edgebert.accel import images
    from edgebert.sim.csim import CSimError, build_library, load_accelerator, run_sentence
    hw, enc, y = _csim_inputs(task, model_dir, limit)
    try:
        t0 = time.perf_counter()
        build_library("native")
        build_s = time.perf_counter() - t0
        acc = load_accelerator(hw, "native")
    except CSimError as e:
        raise click.ClickException(str(e)) from e
    tokens = [images.token_words(e.ids, e.token_types) for e in enc]
    correct, exits = 0, 0
    t0 = time.perf_counter()
    for tok, label in zip(tokens, y):
        run = run_sentence(acc, tok, hw.threshold_q16, hw.cfg.layers, policy)
        correct += int(np.argmax(run.logits)) == label
        exits += run.exit_layer
    wall = time.perf_counter() - t0
    _emit({"task": task, "policy": policy, "sentences": len(enc), "wall_s": round(wall, 3),
           "sentences_per_s": round(len(enc) / wall, 2), "build_s": round(build_s, 2),
           "accuracy": correct / len(enc), "avg_exit_layer": exits / len(enc),
           "array_n": acc.limits["n"]}, as_json)


@bench.command("host")
@click.option("--task", default="sst2", show_default=True)
@click.option("--board", default="sim", show_default=True)
@click.option("--model-dir", default=None)
@click.option("--limit", type=int, default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench_host(task, board, model_dir, limit, as_json):
    """Per-step host cost per sentence (FINN-driver style): tokenize, pack, transfer + compute,
    DVFS decision, clock switch, unpack. Medians in microseconds."""
    import time

    from edgebert.accel import images
    from edgebert.accel.asic12nm import load_grid
    from edgebert.accel.cost import Schedule
    from edgebert.core.tasks import get_task, read_examples
    from edgebert.core.tokenization import Tokenizer
    from edgebert.runtime.boards import get_board
    from edgebert.runtime.policy import phase2_plan
    from edgebert.sim.backend import CSimBackend
    try:
        board_ = get_board(board)
        task_ = get_task(task)
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    hw = _load_hw(task_.name, model_dir)
    tok = Tokenizer(hw.cfg.max_len)
    examples = read_examples(task_, "dev")[:limit]
    grid, sched = load_grid(), Schedule(hw.cfg, board_.array_n, len(hw.live_heads)).warm()
    steps = {k: [] for k in ("tokenize", "pack", "phase1", "decision", "clock_switch", "phase2", "unpack")}
    with CSimBackend(board_) as be:
        be.prepare(hw)
        clocks = be.board.clocks
        for i, ex in enumerate(examples):
            t = time.perf_counter
            t0 = t(); enc = tok.encode(ex.text_a, ex.text_b, warn=False); t1 = t()
            words = images.token_words(enc.ids, enc.token_types); t2 = t()
            p1 = be.phase1(words, hw.threshold_q16); t3 = t()
            plan = phase2_plan("lai", be.clock, grid, sched, len(enc.ids), hw.cfg.layers,
                               p1.predicted_layer, None, 0.2, board_.default_target_ms); t4 = t()
            be.set_clock(clocks[i % 2 - 2]); t5 = t()         # alternate between two clocks
            p2 = be.phase2(hw.threshold_q16, plan.stop_layer) if not p1.exit_now else p1; t6 = t()
            json.dumps({"logits": [int(v) for v in p2.logits], "counters": p2.counters}); t7 = t()
            for k, a, b in zip(steps, (t0, t1, t2, t3, t4, t5, t6), (t1, t2, t3, t4, t5, t6, t7)):
                steps[k].append((b - a) * 1e6)
    out = {"task": task_.name, "board": board_.name, "sentences": len(examples),
           **{f"{k}_us_median": round(float(np.median(v)), 2) for k, v in steps.items()},
           "decision_us_max": round(float(np.max(steps["decision"])), 2),
           "note": "phase1/phase2 include the transfer and the C-simulated compute"}
    _emit(out, as_json)


# ---- the 12 nm energy projection ---------------------------------------------------------------
@main.group()
def energy():
    """The calibrated 12 nm ASIC energy and latency projection."""


@energy.command("replay")
@click.option("--params", "params_path", default=None, help="Parameter file (default host/params/asic12nm.json).")
@click.option("--data", "data_dir", default=None, help="EdgeBERT exit data (default data/edgebert, shipped).")
@click.option("--target-factor", default=2.0, show_default=True,
              help="Latency target as a multiple of the all-layer latency at V0.")
@click.option("--update-doc", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Rewrite the generated sections of docs/energy_model.md.")
@click.option("--json", "as_json", is_flag=True)
def energy_replay(params_path, data_dir, target_factor, update_doc, as_json):
    """EdgeBERT's released SST-2 exit data through the projection: base/EE, EE/LAI, base/LAI."""
    from edgebert.accel.asic12nm import EnergyParams, EnergyParamsError
    from edgebert.analysis.replay import DATA_DIR, TARGET_FACTORS, doc_sections, replay, sensitivity
    if target_factor <= 0:
        raise click.BadParameter("must be > 0", param_hint="--target-factor")
    try:
        p = EnergyParams.load(params_path) if params_path else EnergyParams.load()
        d = Path(data_dir) if data_dir else DATA_DIR
        out = replay(p, d, target_factor=target_factor)
        if update_doc:
            from edgebert.core.docgen import replace_sections
            sections = doc_sections(p, d, TARGET_FACTORS, sensitivity(p, d, target_factor), out)
            path = Path(update_doc)
            path.write_text(replace_sections(path.read_text(), sections))
    except (EnergyParamsError, FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        _emit(out, True)
    else:
        for row in out["thresholds"]:
            click.echo("  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                                 if k.startswith(("threshold", "ratio", "target", "avg_exit"))))



# ---- reports and the main demo -------------------------------------------------------------------
@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--out", "out_dir", required=True, help="Report folder (report.md, summary.json, PNGs).")
@click.option("--sweep", "sweep_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Threshold sweep JSON (list of threshold/accuracy/avg_exit_layer/energy_uj_mean), as the demo writes.")
@click.option("--params", "params_path", default=None, help="Energy parameter file.")
@click.option("--measured", "measured_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Board measurement from `edgebert power sweep`, shown beside the 12 nm projection.")
@click.option("--json", "as_json", is_flag=True)
def report(runs, out_dir, sweep_path, params_path, measured_path, as_json):
    """Markdown report with plots from run logs (one per policy) through the 12 nm projection."""
    from edgebert.accel.asic12nm import EnergyParams, EnergyParamsError
    from edgebert.analysis.report import ReportError, build_report
    try:
        p = EnergyParams.load(params_path) if params_path else EnergyParams.load()
        sweep = json.loads(Path(sweep_path).read_text()) if sweep_path else None
        measured = json.loads(Path(measured_path).read_text()) if measured_path else None
        summary = build_report([Path(r) for r in runs], Path(out_dir), p, sweep, measured=measured)
    except (ReportError, EnergyParamsError) as e:
        raise click.ClickException(str(e)) from e
    summary.pop("energy_vs_target", None)
    _emit(summary, as_json)


@main.command()
@click.option("--task", default="sst2", show_default=True)
@click.option("--latency-target-ms", "target_ms", type=float, default=None,
              help="Per-sentence latency target (default: the sim board's, docs/host.md).")
@click.option("--out", "out_dir", default="reports/demo", show_default=True)
@click.option("--limit", type=int, default=None, help="Only the first N dev sentences.")
@click.option("--json", "as_json", is_flag=True)
def demo(task, target_ms, out_dir, limit, as_json):
    """The main job: the shipped model on the C-simulation under base, EE and LAI, the 12 nm
    projection, and a report with plots."""
    from edgebert.accel.asic12nm import EnergyParams
    from edgebert.analysis.report import build_report
    from edgebert.core.tokenization import Tokenizer
    from edgebert.runtime.boards import get_board
    from edgebert.runtime.runner import run, task_items
    from edgebert.sim.backend import CSimBackend
    from edgebert.sim.csim import CSimError
    board = get_board("sim")
    target = board.default_target_ms if target_ms is None else target_ms
    if not 0 < target <= 60_000:
        raise click.BadParameter("the latency target must be in (0, 60000] ms", param_hint="--latency-target-ms")
    hw = _load_hw(task, None)
    items = task_items(task, Tokenizer(hw.cfg.max_len), limit)
    out = Path(out_dir)
    logs = []
    try:
        with CSimBackend(board) as backend:
            for policy in ("base", "ee", "lai"):
                header = {"task": task, "policy": policy, "target_ms": target, "backend": "csim", "board": board.name,
                          "threshold_q16": hw.threshold_q16, "input": "dev" if limit is None else f"dev[:{limit}]",
                          "array_n": board.array_n}
                log = out / "runs" / f"{policy}.jsonl"
                run(backend, hw, items, policy, target, log, header)
                logs.append(log)
    except CSimError as e:
        raise click.ClickException(str(e)) from e
    p = EnergyParams.load()
    sweep = _demo_sweep(hw, items, board, p)
    (out / "sweep.json").write_text(json.dumps(sweep, indent=1))
    summary = build_report(logs, out, p, sweep)
    summary.pop("energy_vs_target", None)
    if not as_json:
        click.echo(f"{'mode':>8} {'accuracy':>9} {'avg exit':>9} {'energy uJ':>10} {'p99 ms':>7} {'met':>7}")
        for m, s in summary["modes"].items():
            acc = "-" if s.get("accuracy") is None else f"{100 * s['accuracy']:.1f}%"
            click.echo(f"{m:>8} {acc:>9} {s['avg_exit_layer']:>9.2f} {s['energy_uj_mean']:>10.3f} "
                       f"{s['latency_ms_p99']:>7.2f} {100 * s['target_met_fraction']:>6.1f}%")
        click.echo(f"base/LAI {summary.get('ratio_base_over_lai', 0):.2f}x, EE/LAI {summary.get('ratio_ee_over_lai', 0):.2f}x; "
                   f"report: {out / 'report.md'}")
    else:
        _emit(summary, True)


def _demo_sweep(hw, items, board, p) -> list[dict]:
    """Accuracy, average exit and EE energy (V0) per threshold, from the golden model's
    all-layer trace of each sentence (the hardware's exact logits and entropies)."""
    from edgebert.accel import images
    from edgebert.accel.cost import Schedule
    from edgebert.accel.golden import GoldenModel, evaluate_set
    from edgebert.analysis.energy import phase_energy
    sched = Schedule(hw.cfg, board.array_n, len(hw.live_heads)).warm()
    enc = [it.encoded for it in items]
    labels = np.array([it.label for it in items])
    trace = evaluate_set(GoldenModel(hw), enc, hw.threshold_q16)
    step = {}
    e1 = []
    for e in enc:
        s = len(e.ids)
        c1 = sched.phase1(images.embedding_record_words(hw.word_table, e.ids))
        e1.append(sum(phase_energy(p, sched, s, 1, True, c1, p.v0)[0].values()))
        if s not in step:
            step[s] = sum(phase_energy(p, sched, s, 1, False, sched.phase2(s, 1), p.v0)[0].values())
    e1 = np.array(e1)
    per_layer = np.array([step[len(e.ids)] for e in enc])
    rows = []
    for t in THRESHOLD_GRID:
        below = trace["entropies"] < t
        layers = np.where(below.any(axis=1), below.argmax(axis=1) + 1, hw.cfg.layers)
        pred = trace["logits"][np.arange(len(enc)), layers - 1].argmax(-1)
        rows.append({"threshold": t, "accuracy": float((pred == labels).mean()),
                     "avg_exit_layer": float(layers.mean()),
                     "energy_uj_mean": float((e1 + (layers - 1) * per_layer).mean())})
    return rows


# ---- board builds ----------------------------------------------------------------------------------
@main.command()
@click.option("--board", required=True, help="zcu104, kv260 or pynq-z2 (hls/tcl/boards.tcl).")
@click.option("--estimate", is_flag=True, help="Print the resource estimate against the part's capacity.")
@click.option("--json", "as_json", is_flag=True)
def build(board, estimate, as_json):
    """Board builds: the resource estimate (--estimate); the build itself is `make -C bitstreams BOARD=B`."""
    from edgebert.accel.builds import get_build
    from edgebert.accel.resources import estimate as estimate_resources
    from edgebert.core.config import load_model_config
    try:
        b = get_build(board)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--board") from e
    if not estimate:
        raise click.UsageError(f"building needs Vitis HLS and Vivado: run `make -C bitstreams BOARD={board}` "
                               f"(docs/board.md); `edgebert build --board {board} --estimate` prints the estimate")
    from edgebert.runtime.boards import get_board
    model = load_model_config(get_board(board).model_config)
    fits_model = (model.hidden <= b.limit("EB_MAX_H") and model.ffn <= b.limit("EB_MAX_FFN")
                  and model.heads <= b.limit("EB_MAX_HEADS") and model.embed_dim <= b.limit("EB_MAX_E"))
    est = estimate_resources(b.n, b.limits, b.part, b.wbuf_storage)
    out = {"board": board, "part": b.part, "n": b.n, "model_config": model.name, "model_fits_buffers": fits_model,
           "max_sentence_tokens": b.limit("EB_MAX_LEN"), "off_ramps_in_ddr": bool(b.limit("EB_RAMPS_IN_DDR")),
           "clock_mhz_target": round(1000 / b.clock_ns, 3),
           **{k: est[k] for k in ("dsp", "bram36", "uram", "lut")},
           "capacity": est["capacity"], "utilization": {k: round(v, 3) for k, v in est["utilization"].items()},
           "fits": est["fits"] and fits_model}
    if not as_json:
        for row in est["buffers"]:
            click.echo(f"{row['buffer']:>10}: {row['banks']:>3} x {row['depth']:>6} x {row['width']:>3} bit -> "
                       + (f"{row['uram']} URAM" if "uram" in row else f"{row['bram36']:g} BRAM36"))
    _emit(out, as_json)


@main.group()
def power():
    """Power measured on a board."""


@power.command("sweep")
@click.option("--board", required=True, help="zcu104 (PMBus), kv260 (hwmon) or pynq-z2 (--meter).")
@click.option("--overlay", required=True, help="The board's bitstream (.bit with its .hwh).")
@click.option("--task", default="sst2", show_default=True)
@click.option("--clocks", default=None, help="Comma-separated PL clocks in MHz (default: four of the board's).")
@click.option("--sentences", default=200, show_default=True, help="Sentences per measurement window.")
@click.option("--idle-s", default=2.0, show_default=True, help="Seconds of idle power per clock.")
@click.option("--meter", default=None, help="External meter log (CSV unix_time_s,watts) instead of the board's sensor.")
@click.option("--out", "out_path", required=True, help="JSON result, for `edgebert report --measured`.")
@click.option("--json", "as_json", is_flag=True)
def power_sweep_cmd(board, overlay, task, clocks, sentences, idle_s, meter, out_path, as_json):
    """Energy per sentence against the PL clock, measured from the board's power sensor."""
    from edgebert.core.tokenization import Tokenizer
    from edgebert.runtime.boards import get_board
    from edgebert.runtime.measure import power_sweep
    from edgebert.runtime.power import PowerError, power_source
    from edgebert.runtime.pynq_backend import AcceleratorError, AcceleratorTimeout
    from edgebert.runtime.runner import task_items
    try:
        board_ = get_board(board)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--board") from e
    chosen = [float(c) for c in clocks.split(",")] if clocks else board_.clocks[-1::-max(1, len(board_.clocks) // 8)][:4]
    bad = [c for c in chosen if round(c, 3) not in board_.clock_table]
    if bad:
        raise click.BadParameter(f"{bad} MHz not reachable on {board}; reachable: {board_.clocks[-8:]} ...",
                                 param_hint="--clocks")
    hw = _load_hw(task, None)
    from edgebert.accel.builds import get_build
    items = task_items(task, Tokenizer(min(hw.cfg.max_len, get_build(board).limit("EB_MAX_LEN"))))
    try:
        source = power_source(board_, meter)
        backend = _make_backend("pynq", board_, overlay)
        with backend:
            result = power_sweep(backend, hw, items, chosen, source, sentences, idle_s,
                                 progress=lambda r: click.echo(f"{r['clock_mhz']:>8g} MHz: {r['energy_mj_per_sentence']:.4f} mJ/sentence", err=True))
    except (PowerError, AcceleratorError, AcceleratorTimeout) as e:
        raise click.ClickException(str(e)) from e
    Path(out_path).write_text(json.dumps(result, indent=1))
    _emit(result, as_json)


@main.command()
@click.option("--config", "config_name", default="paper", show_default=True,
              help="Model config (tiny, edge, paper) or a JSON file.")
@click.option("--n", "array_n", default=16, show_default=True, help="MAC array size n (n x n).")
@click.option("--tokens", type=int, default=None, help="Sentence length (default: the config's max_len).")
@click.option("--live-heads", type=int, default=None, help="Heads with a non-zero span (default: all).")
@click.option("--json", "as_json", is_flag=True)
def cycles(config_name, array_n, tokens, live_heads, as_json):
    """Modeled cycles of one layer against the ideal MAC-bound count, and MAC utilization."""
    from edgebert.accel.cost import Schedule
    from edgebert.core.config import load_model_config
    try:
        cfg = load_model_config(config_name)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--config") from e
    if array_n < 1:
        raise click.BadParameter("the array size must be >= 1", param_hint="--n")
    if tokens is not None and not 1 <= tokens <= cfg.max_len:
        raise click.BadParameter(f"tokens must be in 1..{cfg.max_len}", param_hint="--tokens")
    if live_heads is not None and not 0 <= live_heads <= cfg.heads:
        raise click.BadParameter(f"live heads must be in 0..{cfg.heads}", param_hint="--live-heads")
    _emit(Schedule(cfg, array_n, live_heads).layer_report(tokens), as_json)


if __name__ == "__main__":
    sys.exit(main())
