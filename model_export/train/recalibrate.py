"""Calibrate a packaged task again: off-ramp temperatures and the threshold rule of
`edgebert.train.calibration` applied to the shipped weights, without retraining; or refit only
its exit predictors. The validation split, seed and predictor sample are those the package
records from its training config, so the result is what the calibrate step of the pipeline
would give; the package is rewritten (temperatures folded into its off-ramp classifiers)."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from edgebert.core.errors import InputError
from edgebert.core.tasks import encode_examples, get_task, read_examples, split_train
from edgebert.core.tokenization import Tokenizer
from edgebert.train import evaluate as ev
from edgebert.train.calibration import DEFAULT_TOLERANCE, calibrate_exit
from edgebert.train.package import load_task, predictor_table, read_manifest, save_task
from edgebert.train.predictor import fit_predictors
from edgebert.train.quant import FakeQuantHooks

# Manifest entries save_task writes itself; everything else is carried over.
_WRITTEN = ("format", "task", "config", "threshold", "predictor_table", "binned_predictor", "spans",
            "embedding", "weights")


def package_sets(model_dir: Path, task_name: str, data_dir: Path | None):
    """The package's model (with its shipped numerics), manifest, predictor sample and
    validation split, as its training config chose them."""
    model, manifest = load_task(model_dir, task_name)
    cfg, task = manifest["training"]["config"], get_task(task_name)
    if "formats" in manifest:                 # the shipped numerics, as the pipeline calibrates
        model.set_hooks(FakeQuantHooks(manifest["formats"]))
    tok = Tokenizer(model.cfg.max_len)
    train, val = split_train(read_examples(task, "train", data_dir), cfg["validation_size"], cfg["seed"],
                             by=cfg.get("validation_split", "example"))
    sample = random.Random(cfg["seed"]).sample(range(len(train)),
                                               min(cfg["exit"]["predictor_train_sentences"], len(train)))
    sets = {"train": encode_examples([train[i] for i in sample], tok), "val": encode_examples(val, tok),
            "train_y": np.array([train[i].label for i in sample]), "val_y": np.array([e.label for e in val])}
    return model, manifest, sets


def _save(model, manifest: dict, model_dir: Path, threshold: float, table, binned, **updates) -> None:
    extra = {k: v for k, v in manifest.items() if k not in _WRITTEN}
    extra.update(updates)
    save_task(model, manifest["task"], model_dir, threshold, table, extra, binned)


def recalibrate_package(model_dir: Path, task_name: str, data_dir: Path | None = None,
                        tolerance: float = DEFAULT_TOLERANCE) -> dict:
    """Fit and fold the temperatures, choose the threshold, refit both exit predictors on
    the calibrated entropies, and rewrite the package. Returns the calibration report."""
    if read_manifest(model_dir, task_name).get("off_ramp_temperatures"):
        raise InputError(f"{task_name} in {model_dir} is already calibrated (its temperatures are folded in)")
    model, manifest, sets = package_sets(model_dir, task_name, data_dir)
    task = get_task(task_name)
    out = calibrate_exit(model, lambda m: ev.all_layer_logits(m, sets["val"]), sets["val_y"],
                         {"temperature": True, "tolerance": tolerance}, with_f1="f1" in task.metrics)
    out.pop("val_logits")
    seed = manifest["training"]["config"]["seed"]
    table, binned, _ = fit_predictors(model, sets["train"], sets["val"], sets["val_y"], out["threshold"], seed)
    _save(model, manifest, model_dir, out["threshold"], table, binned,
          off_ramp_temperatures={"values": out["temperatures"], "folded_into": "ramps.<i>.classifier"},
          calibration={"rule": out["rule"], "tolerance": tolerance, "previous_threshold": manifest["threshold"]})
    return {"task": task_name, "threshold": out["threshold"], "previous_threshold": manifest["threshold"],
            "temperatures": out["temperatures"], "rule": out["rule"]}


def refit_predictors(model_dir: Path, task_name: str, data_dir: Path | None = None, write: bool = False,
                     which: str = "all") -> tuple:
    """The exit predictors fitted again at the package's threshold (the weights unchanged):
    both (`all`) or only the binned one (`binned`: EdgeBERT's table kept); with `write`, the
    package is rewritten with them. Returns (table, binned, report)."""
    model, manifest, sets = package_sets(model_dir, task_name, data_dir)
    seed = manifest["training"]["config"]["seed"]
    keep = predictor_table(manifest) if which == "binned" else None
    table, binned, report = fit_predictors(model, sets["train"], sets["val"], sets["val_y"],
                                           manifest["threshold"], seed, table=keep)
    if write:
        _save(model, manifest, model_dir, manifest["threshold"], table, binned)
    return table, binned, report
