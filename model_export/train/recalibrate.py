"""Calibrate a packaged task again: off-ramp temperatures and the threshold rule of
`edgebert.train.calibration` applied to the shipped weights, without retraining. The validation
split, seed and predictor sample are those the package records from its training config, so
the result is what the calibrate step of the pipeline would give; the package is rewritten
with the temperatures folded into its off-ramp classifiers."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from edgebert.core.errors import InputError
from edgebert.core.tasks import encode_examples, get_task, read_examples, split_train
from edgebert.core.tokenization import Tokenizer
from edgebert.train import evaluate as ev
from edgebert.train.calibration import DEFAULT_TOLERANCE, calibrate_exit
from edgebert.train.package import load_task, save_task
from edgebert.train.predictor import fit_table
from edgebert.train.quant import FakeQuantHooks

# Manifest entries save_task writes itself; everything else is carried over.
_WRITTEN = ("format", "task", "config", "threshold", "predictor_table", "spans", "embedding", "weights")


def recalibrate_package(model_dir: Path, task_name: str, data_dir: Path | None = None,
                        tolerance: float = DEFAULT_TOLERANCE) -> dict:
    """Fit and fold the temperatures, choose the threshold, refit EdgeBERT's predictor table on
    the calibrated entropies, and rewrite the package. Returns the calibration report."""
    model, manifest = load_task(model_dir, task_name)
    if manifest.get("off_ramp_temperatures"):
        raise InputError(f"{task_name} in {model_dir} is already calibrated (its temperatures are folded in)")
    cfg, task = manifest["training"]["config"], get_task(task_name)
    if "formats" in manifest:                 # the shipped numerics, as the pipeline calibrates
        model.set_hooks(FakeQuantHooks(manifest["formats"]))
    tok = Tokenizer(model.cfg.max_len)
    train, val = split_train(read_examples(task, "train", data_dir), cfg["validation_size"], cfg["seed"],
                             by=cfg.get("validation_split", "example"))
    val_enc, val_y = encode_examples(val, tok), np.array([e.label for e in val])
    out = calibrate_exit(model, lambda m: ev.all_layer_logits(m, val_enc), val_y,
                         {"temperature": True, "tolerance": tolerance}, with_f1="f1" in task.metrics)
    out.pop("val_logits")
    sample = random.Random(cfg["seed"]).sample(range(len(train)),
                                               min(cfg["exit"]["predictor_train_sentences"], len(train)))
    train_logits = ev.all_layer_logits(model, encode_examples([train[i] for i in sample], tok))
    table = fit_table(ev.layer_entropies(train_logits), seed=cfg["seed"])
    extra = {k: v for k, v in manifest.items() if k not in _WRITTEN}
    extra["off_ramp_temperatures"] = {"values": out["temperatures"], "folded_into": "ramps.<i>.classifier"}
    extra["calibration"] = {"rule": out["rule"], "tolerance": tolerance, "previous_threshold": manifest["threshold"]}
    save_task(model, task_name, model_dir, out["threshold"], table, extra)
    return {"task": task_name, "threshold": out["threshold"], "previous_threshold": manifest["threshold"],
            "temperatures": out["temperatures"], "rule": out["rule"]}
