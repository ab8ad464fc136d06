"""Evaluation of a model on a labelled set: per-layer off-ramp outputs, entropy early exit,
the DeeBERT-style threshold sweep, and the exit predictor's effect."""
from __future__ import annotations

import numpy as np
import torch

from edgebert.accel import predictor
from edgebert.accel.numerics.fixed import to_fixed
from edgebert.accel.numerics.functions import ENTROPY_FRAC
from edgebert.core.tokenization import Encoded
from edgebert.train import device
from edgebert.train.batches import bucketed_batches, collate
from edgebert.train.early_exit import entropy, exit_layers, exit_predictions, expected_saving


@torch.no_grad()
def all_layer_logits(model, encoded: list[Encoded], batch_size: int = 64) -> np.ndarray:
    """(N, L, classes) off-ramp logits of every layer, in input order. Running every layer and
    deciding the exit afterwards gives the same answers as stopping early: off-ramps do not
    feed back into the encoder."""
    model.eval()
    out = np.zeros((len(encoded), model.cfg.layers, model.cfg.num_labels), dtype=np.float32)
    for idx in bucketed_batches(encoded, batch_size, shuffle=False):
        b = collate(encoded, idx).to(device.of(model))
        out[idx] = model(b.ids, b.token_types, b.pad_mask).cpu().numpy()
    return out


@torch.no_grad()
def ramp_pooled(model, encoded: list[Encoded], layers: int, batch_size: int = 64) -> np.ndarray:
    """(N, layers, H) pooled (tanh) vectors of off-ramps 1..layers: what each classifier reads."""
    model.eval()
    out = np.zeros((len(encoded), layers, model.cfg.hidden), dtype=np.float32)
    for idx in bucketed_batches(encoded, batch_size, shuffle=False):
        b = collate(encoded, idx).to(device.of(model))
        _, hidden = model(b.ids, b.token_types, b.pad_mask, num_layers=layers, return_hidden=True)
        out[idx] = np.stack([model.ramps[l].pooled(x).cpu().numpy() for l, x in enumerate(hidden)], axis=1)
    return out


def f1_score(pred: np.ndarray, labels: np.ndarray) -> float:
    tp = int(((pred == 1) & (labels == 1)).sum())
    fp = int(((pred == 1) & (labels == 0)).sum())
    fn = int(((pred == 0) & (labels == 1)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def layer_entropies(layer_logits: np.ndarray) -> np.ndarray:
    return entropy(layer_logits).astype(np.float64)


def early_exit_metrics(layer_logits: np.ndarray, labels: np.ndarray, threshold: float,
                       with_f1: bool = False, entropies: np.ndarray | None = None) -> dict:
    """Entropies default to the float entropies of the logits; a hardware backend passes its
    own (the exit decision is the hardware's)."""
    num_layers = layer_logits.shape[1]
    ent = layer_entropies(layer_logits) if entropies is None else entropies
    layers = exit_layers(ent, threshold)
    pred = exit_predictions(layer_logits, layers)
    hist = np.bincount(layers, minlength=num_layers + 1)[1:]
    out = {"threshold": threshold, "accuracy": float((pred == labels).mean()),
           "avg_exit_layer": float(layers.mean()),
           "expected_saving": expected_saving(layers, num_layers),
           "exit_histogram": hist.tolist()}
    if with_f1:
        out["f1"] = f1_score(pred, labels)
    return out


def per_layer_accuracy(layer_logits: np.ndarray, labels: np.ndarray) -> list[float]:
    return [float(x) for x in (layer_logits.argmax(-1) == labels[:, None]).mean(0)]


def sweep(layer_logits: np.ndarray, labels: np.ndarray, thresholds) -> dict:
    """Accuracy, exit histogram, average exit and expected saving per threshold."""
    return {"per_layer_accuracy": per_layer_accuracy(layer_logits, labels),
            "thresholds": [early_exit_metrics(layer_logits, labels, float(t)) for t in thresholds]}


def choose_threshold(layer_logits: np.ndarray, labels: np.ndarray, max_drop: float,
                     grid=np.round(np.arange(0.01, 0.70, 0.01), 2)) -> float:
    """The largest threshold whose accuracy stays within `max_drop` of all-layers accuracy."""
    base = float((layer_logits[:, -1].argmax(-1) == labels).mean())
    best = float(grid[0])
    for t in grid:
        if early_exit_metrics(layer_logits, labels, float(t))["accuracy"] >= base - max_drop:
            best = float(t)
    return best


def predictor_metrics(layer_logits: np.ndarray, labels: np.ndarray, table: np.ndarray,
                      threshold: float, entropies: np.ndarray | None = None,
                      predicted: np.ndarray | None = None) -> dict:
    """Exit predictor in force: accuracy, average exit, and how often the prediction is exact,
    too early or too late against the plain early-exit layer. A hardware backend passes its
    own entropies and predicted layers."""
    ent = layer_entropies(layer_logits) if entropies is None else entropies
    actual = exit_layers(ent, threshold)
    if predicted is None:
        predicted = predictor.predict_exits(table, ent[:, 0], threshold)
    layers = predictor.exits_with_prediction(actual, predicted)
    pred = exit_predictions(layer_logits, layers)
    return {"accuracy": float((pred == labels).mean()), "avg_exit_layer": float(layers.mean()),
            "quality": predictor.prediction_quality(predicted, actual)}


def binned_predictions(layer_logits: np.ndarray, entropies: np.ndarray, lengths, binned: predictor.Binned,
                       threshold: float) -> np.ndarray:
    """The binned predictor's exit layers for the float model (H1 rounded to Q.16 for the bin;
    the layer-1 exit compared as the entropy exit compares it)."""
    h1 = to_fixed(np.asarray(entropies)[:, 0], ENTROPY_FRAC)
    cells = binned.predict_all(h1, lengths, np.asarray(layer_logits)[:, 0].argmax(-1), -1)
    return np.where(np.asarray(entropies)[:, 0] < threshold, 1, cells)


def predictors_report(layer_logits: np.ndarray, labels: np.ndarray, threshold: float, entropies: np.ndarray,
                      predicted: dict[str, np.ndarray]) -> dict[str, dict]:
    """Each predictor's quality against the entropy exit and the accuracy and average exit with
    it in force; `predicted` maps a predictor's name to its exit layers."""
    actual = exit_layers(entropies, threshold)
    out = {}
    for name, pred in predicted.items():
        layers = predictor.exits_with_prediction(actual, pred)
        out[name] = {**predictor.prediction_quality(pred, actual),
                     "accuracy": float((exit_predictions(layer_logits, layers) == labels).mean()),
                     "avg_exit_layer": float(layers.mean()),
                     "avg_predicted_layer": float(np.mean(pred))}
    return out
