"""Training and the float model: train, eval, export, numerics, sweep, predictor, table-cost, calibrate."""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from edgebert.cli.options import emit, json_option, labelled, load_hw, model_dir_option, task_option


def load_model(task: str, model_dir: str | None):
    from edgebert.core.paths import DEFAULT_MODEL_DIR
    from edgebert.train.package import load_task
    return load_task(Path(model_dir) if model_dir else DEFAULT_MODEL_DIR, task)


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Training config (JSON), e.g. configs/train/sst2_tiny.json.")
@click.option("--data", "glue_dir", type=click.Path(file_okay=False), default=None,
              help="Training data: a folder with glue/<TASK>/train.tsv, or the GLUE folder itself "
                   "(default $EDGEBERT_DATA).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run folder (default runs/<config name>).")
@click.option("--steps", default=None, help="Comma-separated subset of the pipeline steps.")
@click.option("--force", is_flag=True, help="Re-run steps whose reports already exist.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
              help="Where the teacher and the training stages run (default: the config's `device`, "
                   "else auto: a CUDA device when torch sees one, else the CPU).")
@json_option("Print the run summary as one JSON line.")
def train(config_path, glue_dir, out, steps, force, device, as_json):
    """Run the training pipeline (resumable: finished steps are skipped)."""
    from edgebert.core.config import load_train_config
    from edgebert.train.pipeline import STEPS, run_pipeline
    cfg = load_train_config(config_path)
    if device:
        cfg["device"] = device
    out = Path(out or Path("runs") / Path(config_path).stem)
    chosen = tuple(s.strip() for s in steps.split(",")) if steps else STEPS
    summary = run_pipeline(cfg, out, Path(glue_dir) if glue_dir else None, chosen, force)
    brief = {"run": str(out), "steps": list(summary)}
    if "threshold" in summary.get("calibrate", {}):
        brief["threshold"] = summary["calibrate"]["threshold"]
    if "accuracy" in summary.get("screen", {}):       # a search trial's measure
        brief["screen"] = {k: summary["screen"][k] for k in ("accuracy", "accuracy_all_layers", "latency_ms",
                                                             "energy_uj", "fits", "meets_target")}
    emit(brief, as_json)


@click.command("eval")
@task_option()
@click.option("--backend", type=click.Choice(["torch", "golden"]), default="torch", show_default=True,
              help="torch: the float model; golden: the accelerator's integer arithmetic (numpy).")
@model_dir_option()
@click.option("--split", type=click.Choice(["dev", "train"]), default="dev", show_default=True)
@click.option("--data", "glue_dir", default=None, help="GLUE folder (default: shipped dev sets).")
@click.option("--threshold", type=float, default=None, help="Entropy threshold (default: shipped).")
@click.option("--limit", type=int, default=None, help="Only the first N examples.")
@json_option()
def eval_cmd(task, backend, model_dir, split, glue_dir, threshold, limit, as_json):
    """Accuracy with entropy early exit, with and without the exit predictors."""
    from edgebert.accel import predictor
    from edgebert.train import evaluate as ev
    from edgebert.train.package import binned_predictor, predictor_table
    if threshold is not None and threshold < 0:
        raise click.BadParameter("the entropy threshold must be >= 0", param_hint="--threshold")
    model, manifest = load_model(task, model_dir)
    t = threshold if threshold is not None else manifest["threshold"]
    task_, enc, y = labelled(task, split, glue_dir, limit, model.cfg)
    extra, t_cmp = {}, t
    if backend == "golden":
        from edgebert.accel.artifact import threshold_q16
        from edgebert.accel.golden import GoldenModel, evaluate_set
        t_q16 = threshold_q16(t)
        run = evaluate_set(GoldenModel(load_hw(task, model_dir)), enc, t_q16)
        t_cmp = t_q16 / 2.0 ** 16         # the threshold the hardware compares against, exactly
        logits, ent, predicted = run["logits"], run["entropies"], run["predicted"]
        binned = run["predicted_binned"]
        extra.update(threshold_q16=t_q16, saturations=run["saturations"])
    else:
        logits = ev.all_layer_logits(model, enc)
        ent, predicted = ev.layer_entropies(logits), None
        binned = ev.binned_predictions(logits, ent, [len(e.ids) for e in enc], binned_predictor(manifest), t)
    pair = "f1" in task_.metrics
    ee = ev.early_exit_metrics(logits, y, t_cmp, with_f1=pair, entropies=ent)
    pm = ev.predictor_metrics(logits, y, predictor_table(manifest), t_cmp, ent, predicted)
    if threshold is None or t == manifest["threshold"]:     # the binned cells hold the task's threshold
        edge = predicted if predicted is not None else predictor.predict_exits(predictor_table(manifest), ent[:, 0], t)
        extra["predictors"] = ev.predictors_report(logits, y, t_cmp, ent, {"edgebert": edge, "binned": binned})
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
    emit(out, as_json)


@click.command("export")
@model_dir_option()
@click.option("--out", "out_dir", default=None, help="Artifact folder (default <model-dir>/accel).")
@click.option("--calibrate", is_flag=True,
              help="Calibrate activation formats on training sentences for tasks trained without QAT.")
@click.option("--data", "glue_dir", default=None, help="GLUE folder with the training sets (for --calibrate).")
@click.option("--sentences", default=4000, show_default=True, help="Calibration sentences per task.")
@json_option()
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

    report = export_model_dir(Path(model_dir) if model_dir else DEFAULT_MODEL_DIR,
                              calibrate_fn if calibrate else None, out_dir)
    emit(report, as_json)


@click.command()
@task_option(required=False, help=None)
@model_dir_option()
@click.option("--update-doc", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Rewrite the generated sections of this markdown file (docs/numerics.md).")
@json_option()
def numerics(task, model_dir, update_doc, as_json):
    """Special-function error table and the accuracy ladder float -> hardware (dev set)."""
    from edgebert.train.ladder import accuracy_ladder, numerics_sections
    from edgebert.train.numerics_errors import special_function_errors
    from edgebert.train.package import predictor_table
    model, manifest = load_model(task, model_dir)
    hw = load_hw(task, model_dir)
    _, enc, y = labelled(task, "dev", None, None, model.cfg)
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
        emit({"task": task, "formats": hw.formats, "special_functions": errors, "ladder": ladder}, True)


@click.command()
@task_option(help=None)
@model_dir_option(help=None)
@click.option("--out", "out_dir", default=None, help="Folder for sweep.json and sweep.png.")
@json_option()
def sweep(task, model_dir, out_dir, as_json):
    """Early-exit sweep over thresholds (DeeBERT convention): JSON and a plot."""
    from edgebert.analysis.sweep import THRESHOLD_GRID
    from edgebert.train import evaluate as ev
    from edgebert.train.plots import plot_sweep
    model, manifest = load_model(task, model_dir)
    task_, enc, y = labelled(task, "dev", None, None, model.cfg)
    result = ev.sweep(ev.all_layer_logits(model, enc), y, THRESHOLD_GRID)
    result.update(task=task_.name, split="dev", n=int(len(y)), shipped_threshold=manifest["threshold"])
    out = Path(out_dir or Path("reports") / f"sweep-{task_.name}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(result, indent=1))
    plot_sweep(result, out / "sweep.png")
    emit({"task": task_.name, "out": str(out), "points": len(result["thresholds"])}, as_json)


@click.command("predictor")
@task_option(help=None)
@model_dir_option(help=None)
@click.option("--refit", type=click.Choice(["all", "binned"]), default=None,
              help="Fit the predictors again (all, or only the binned one) on the package's "
                   "training sample and validation split.")
@click.option("--write", is_flag=True, help="With --refit: rewrite the package with them (then `edgebert export`).")
@click.option("--data", "glue_dir", default=None,
              help="For --refit: a folder with glue/<TASK>/train.tsv, or the GLUE folder (default $EDGEBERT_DATA).")
@click.option("--entropies", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Build EdgeBERT's table from an (N, L) comma-separated entropy file instead.")
@click.option("--out", "out_csv", default=None, help="Write EdgeBERT's table as CSV (EdgeBERT's layout).")
@click.option("--probe", is_flag=True,
              help="Also fit the probe (edgebert.train.exit_probe: a linear classifier on an off-ramp's "
                   "pooled vector, after layer 1 and after layer 2; float, not on chip) on the package's "
                   "training sample (--data or $EDGEBERT_DATA) and report it under `probe`.")
@json_option()
def predictor_cmd(task, model_dir, refit, write, glue_dir, entropies, out_csv, probe, as_json):
    """The exit predictors on dev: EdgeBERT's table and the binned table (exact, too early,
    too late; accuracy and average exit with each in force)."""
    from edgebert.accel import predictor
    from edgebert.core.paths import DEFAULT_MODEL_DIR
    from edgebert.train import evaluate as ev
    from edgebert.train.package import binned_predictor, predictor_table
    if write and not refit:
        raise click.BadParameter("--write rewrites the package with refitted predictors: add --refit",
                                 param_hint="--write")
    model, manifest = load_model(task, model_dir)
    t = manifest["threshold"]
    out = {"task": task, "threshold": t, "split": "dev"}
    if refit:
        from edgebert.train.recalibrate import refit_predictors
        table, binned, out["fit"] = refit_predictors(Path(model_dir) if model_dir else DEFAULT_MODEL_DIR, task,
                                                     Path(glue_dir) if glue_dir else None, write, refit)
        out["written"] = write
    else:
        table, binned = predictor_table(manifest), binned_predictor(manifest)
    if entropies:
        from edgebert.train.predictor import fit_table
        table = fit_table(np.loadtxt(entropies, delimiter=",", ndmin=2))
        out["edgebert_table_from"] = str(entropies)
    _, dev_enc, dev_y = labelled(task, "dev", None, None, model.cfg)
    logits = ev.all_layer_logits(model, dev_enc)
    ent = ev.layer_entropies(logits)
    preds = {"edgebert": predictor.predict_exits(table, ent[:, 0], t),
             "binned": ev.binned_predictions(logits, ent, [len(e.ids) for e in dev_enc], binned, t)}
    ee = ev.early_exit_metrics(logits, dev_y, t, entropies=ent)
    out.update(n=int(len(dev_y)), ee={"accuracy": ee["accuracy"], "avg_exit_layer": ee["avg_exit_layer"]},
               predictors=ev.predictors_report(logits, dev_y, t, ent, preds),
               on_chip_bytes={"edgebert": int(table.size * 4), "binned": int(binned.bins.size + 4 * binned.edges.size)},
               binned_edges=[int(e) for e in binned.edges])
    if probe:
        from edgebert.train.exit_probe import probe_package
        out["probe"] = probe_package(Path(model_dir) if model_dir else DEFAULT_MODEL_DIR, task,
                                     Path(glue_dir) if glue_dir else None, dev_enc, dev_y)
    if out_csv:
        grid = np.arange(predictor.ROWS)[:, None] * predictor.STEP
        np.savetxt(out_csv, np.hstack([grid, table]), delimiter=",", fmt="%.6f")
        out["out"] = out_csv
    emit(out, as_json)


@click.command("table-cost")
@task_option()
@click.option("--teacher", "teacher_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="A fine-tuned teacher folder (a training run's teacher/).")
@click.option("--widths", default="128,192,256,320,384", show_default=True, help="Table widths E, comma-separated.")
@click.option("--sparsity", "sparsities", default="0,0.6", show_default=True,
              help="Shares of zeros in the table, comma-separated.")
@json_option()
def table_cost_cmd(task, teacher_dir, widths, sparsities, as_json):
    """What the frozen word table costs: the fine-tuned teacher on dev with its word embeddings
    replaced by each table's reconstruction, nothing retrained (edgebert.train.table_cost)."""
    from edgebert.train.table_cost import table_cost
    try:
        ws, sps = [int(w) for w in widths.split(",")], [float(s) for s in sparsities.split(",")]
    except ValueError:
        raise click.BadParameter("comma-separated numbers, as 128,256", param_hint="--widths/--sparsity") from None
    emit(table_cost(Path(teacher_dir), task, ws, sps), as_json)


@click.command("calibrate")
@task_option()
@model_dir_option()
@click.option("--data", "glue_dir", default=None,
              help="Training data: a folder with glue/<TASK>/train.tsv, or the GLUE folder itself "
                   "(default $EDGEBERT_DATA).")
@click.option("--tolerance", type=float, default=0.01, show_default=True,
              help="Largest loss against all layers in accuracy, balanced accuracy and F1.")
@json_option()
def calibrate_cmd(task, model_dir, glue_dir, tolerance, as_json):
    """Calibrate a packaged task's off-ramps (temperatures folded in) and choose its threshold
    again on its validation split; rewrites the package (run `edgebert export` after)."""
    from edgebert.core.paths import DEFAULT_MODEL_DIR
    from edgebert.train.recalibrate import recalibrate_package
    emit(recalibrate_package(Path(model_dir) if model_dir else DEFAULT_MODEL_DIR, task,
                             Path(glue_dir) if glue_dir else None, tolerance), as_json)


COMMANDS = (train, eval_cmd, export_cmd, numerics, sweep, predictor_cmd, table_cost_cmd, calibrate_cmd)
