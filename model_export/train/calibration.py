"""Off-ramp calibration and the early-exit threshold rule.

Entropy early exit trusts each off-ramp's confidence. An off-ramp that is confidently wrong
(a shallow layer that learned the majority class, say) has low entropy and takes every sentence.
Two guards:

* temperature scaling: one temperature T_l per off-ramp, fitted on the validation split by
  minimising the NLL of softmax(z_l / T_l), so that entropy tracks how often the off-ramp is
  right. 1/T_l is folded into the off-ramp classifier (logits / T = (W / T) x + b / T): the
  exported weights, the artifact format and the accelerator stay as they are;
* the threshold rule (`choose_threshold`): the largest threshold whose early-exit answers on the
  validation split use more than one class and lose no more than `tolerance` against all layers
  in accuracy, balanced accuracy and, for pair tasks, F1; threshold 0 (no early exit) when none
  qualifies.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from edgebert.train.early_exit import entropy, exit_layers, exit_predictions

THRESHOLD_GRID = np.round(np.arange(0.01, 0.70, 0.01), 2)
DEFAULT_TOLERANCE = 0.01   # one point of accuracy (and of F1)
# Bounds on the inverse temperature: beyond them an off-ramp is either ignored or all-knowing.
BETA_BOUNDS = (0.02, 50.0)


def _nll(logits: np.ndarray, labels: np.ndarray, beta: float) -> float:
    z = beta * logits
    zmax = z.max(-1, keepdims=True)
    logz = (zmax[:, 0] + np.log(np.exp(z - zmax).sum(-1)))
    return float(np.mean(logz - z[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, iters: int = 80) -> float:
    """The temperature T minimising the NLL of softmax(logits / T) on (N, C) logits.

    The NLL is convex in beta = 1/T (log-sum-exp of a linear function minus a linear one), so a
    golden-section search on log beta finds the minimum."""
    z, y = np.asarray(logits, np.float64), np.asarray(labels, np.int64)
    lo, hi = math.log(BETA_BOUNDS[0]), math.log(BETA_BOUNDS[1])
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = _nll(z, y, math.exp(a)), _nll(z, y, math.exp(b))
    for _ in range(iters):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = _nll(z, y, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = _nll(z, y, math.exp(b))
    return float(1.0 / math.exp((lo + hi) / 2))


def fit_temperatures(layer_logits: np.ndarray, labels: np.ndarray) -> list[float]:
    """One temperature per off-ramp from (N, L, C) logits."""
    return [fit_temperature(layer_logits[:, l], labels) for l in range(layer_logits.shape[1])]


@torch.no_grad()
def fold_temperatures(model, temperatures: list[float]) -> None:
    """Divide each off-ramp classifier's weight and bias by its temperature, in place."""
    if len(temperatures) != len(model.ramps):
        raise ValueError(f"{len(temperatures)} temperatures for {len(model.ramps)} off-ramps")
    for ramp, t in zip(model.ramps, temperatures):
        ramp.classifier.weight.div_(t)
        ramp.classifier.bias.div_(t)


def _f1(pred: np.ndarray, labels: np.ndarray) -> float:
    tp = int(((pred == 1) & (labels == 1)).sum())
    fp = int(((pred == 1) & (labels == 0)).sum())
    fn = int(((pred == 0) & (labels == 1)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _balanced_accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    """Mean recall over the classes present: 1 / classes for any constant answer."""
    return float(np.mean([(pred[labels == c] == c).mean() for c in np.unique(labels)]))


def choose_threshold(layer_logits: np.ndarray, labels: np.ndarray,
                     tolerance: float = DEFAULT_TOLERANCE, with_f1: bool = False,
                     grid=THRESHOLD_GRID) -> dict:
    """The largest grid threshold that keeps the early-exit answers non-constant and within
    `tolerance` of all layers in accuracy, F1 (when `with_f1`) and balanced accuracy; 0 (no
    early exit) if none does. Balanced accuracy catches the near-constant answer (a handful of
    late exits around a majority-class layer) that accuracy and F1 both reward on a skewed set.

    Returns the threshold, whether any qualified, the all-layer reference and, per reason, how
    many grid thresholds were rejected."""
    labels = np.asarray(labels)
    ent = entropy(np.asarray(layer_logits)).astype(np.float64)
    final = layer_logits[:, -1].argmax(-1)
    base = {"accuracy": float((final == labels).mean())}
    if with_f1:
        base["f1"] = _f1(final, labels)
    base["balanced_accuracy"] = _balanced_accuracy(final, labels)
    eps = 1e-9   # a tie with the tolerance counts as within it
    best, rejected = None, {"constant": 0, "accuracy": 0, "f1": 0, "balanced_accuracy": 0}
    for t in grid:
        pred = exit_predictions(layer_logits, exit_layers(ent, float(t)))
        if np.unique(pred).size < 2:
            rejected["constant"] += 1
            continue
        if float((pred == labels).mean()) < base["accuracy"] - tolerance - eps:
            rejected["accuracy"] += 1
            continue
        if with_f1 and _f1(pred, labels) < base["f1"] - tolerance - eps:
            rejected["f1"] += 1
            continue
        if _balanced_accuracy(pred, labels) < base["balanced_accuracy"] - tolerance - eps:
            rejected["balanced_accuracy"] += 1
            continue
        best = float(t)
    out = {"threshold": best if best is not None else 0.0, "qualified": best is not None,
           "tolerance": tolerance, "all_layers": base, "rejected": rejected}
    if best is None:
        out["note"] = ("no threshold keeps more than one class and stays within tolerance of "
                       "all layers: early exit off (threshold 0)")
    return out


def calibrate_exit(model, val_logits_fn, labels: np.ndarray, cfg: dict, with_f1: bool) -> dict:
    """Temperatures (folded into `model` in place when `cfg["temperature"]`) and the threshold.

    `val_logits_fn(model)` gives the validation logits; it is called again after folding, so
    the threshold is chosen on the logits the folded model computes (quantized ones included)."""
    logits = val_logits_fn(model)
    out = {}
    if cfg.get("temperature", True):
        # Rounded before folding: the package folds the reported values and must match.
        temps = [round(t, 6) for t in fit_temperatures(logits, labels)]
        fold_temperatures(model, temps)
        logits = val_logits_fn(model)
        out["temperatures"] = temps
    rule = choose_threshold(logits, labels, cfg.get("tolerance", DEFAULT_TOLERANCE), with_f1)
    return {"threshold": rule["threshold"], "rule": rule, **out, "val_logits": logits}
