"""The accuracy ladder: what each step from the trained float model to the accelerator's
integer arithmetic does to accuracy, on one labelled set."""
from __future__ import annotations

import numpy as np
import torch

from edgebert.accel.golden import GoldenModel, evaluate_set
from edgebert.accel.predictor import exits_with_prediction
from edgebert.core.docgen import markdown
from edgebert.train import evaluate as ev
from edgebert.train.early_exit import exit_layers, exit_predictions
from edgebert.train.quant import FakeQuantHooks, FloatHooks, WeightQuantHooks


def _final_predictions(model, enc) -> np.ndarray:
    return ev.all_layer_logits(model, enc)[:, -1].argmax(-1)


def accuracy_ladder(model, hw, table: np.ndarray, enc, y) -> list[dict]:
    """Rows of accuracy, average exit layer and how many predictions differ from the float
    model's (the accuracy alone can hide flips that cancel out)."""
    rows, reference = [], None

    def add(step: str, pred: np.ndarray, avg_exit: float | None = None):
        nonlocal reference
        reference = pred if reference is None else reference
        rows.append({"step": step, "accuracy": round(float((pred == y).mean()), 4),
                     "avg_exit_layer": None if avg_exit is None else round(avg_exit, 3),
                     "changed_vs_float": int((pred != reference).sum())})

    model.set_hooks(FloatHooks())
    add("float, pruned + adaptive span (as trained)", _final_predictions(model, enc))
    spans = model.layer.span_frac.detach().clone()
    with torch.no_grad():
        model.layer.span_frac.fill_(1.0)
    add("ablation: float without the span limit", _final_predictions(model, enc))
    with torch.no_grad():
        model.layer.span_frac.copy_(spans)
    model.set_hooks(WeightQuantHooks())
    add("+ AdaptivFloat<8,3> weights and embedding tables", _final_predictions(model, enc))
    model.set_hooks(FakeQuantHooks(hw.formats))
    add("+ 16-bit fixed-point activations (fake-quantized)", _final_predictions(model, enc))
    model.set_hooks(FloatHooks())
    t = hw.threshold_q16
    run = evaluate_set(GoldenModel(hw), enc, t, progress=False)
    logits, ent = run["logits"], run["entropies"]
    add("golden integer model, all layers (special-function tables)", logits[:, -1].argmax(-1),
        float(logits.shape[1]))
    layers = exit_layers(ent, t / 2.0 ** 16)
    add(f"+ entropy early exit (T = {hw.threshold:g})", exit_predictions(logits, layers), float(layers.mean()))
    layers = exits_with_prediction(layers, run["predicted"])
    add("+ exit-layer prediction", exit_predictions(logits, layers), float(layers.mean()))
    return rows


def numerics_sections(formats: dict, errors: list[dict], ladder: list[dict]) -> dict[str, str]:
    """The generated sections of docs/numerics.md: activation formats, special-function errors
    and the accuracy ladder, as Markdown tables."""
    fmt_rows = [{"site": k, "format": f"Q{15 - v}.{v}" if v <= 15 else f"2^-{v}",
                 "lsb": 2.0 ** -v, "range": f"+-{(2 ** 15 - 1) / 2 ** v:.4g}"} for k, v in formats.items()]
    return {"formats": markdown(fmt_rows, ["site", "format", "lsb", "range"]),
            "special_functions": markdown(errors, ["function", "format", "inputs", "method",
                                                   "max_abs_error", "max_error_lsb"]),
            "ladder": markdown(ladder, ["step", "accuracy", "avg_exit_layer", "changed_vs_float"])}
