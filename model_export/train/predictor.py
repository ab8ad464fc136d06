"""Fitting the exit predictors from a model's off-ramp outputs on training sentences; their use
at inference is `edgebert.accel.predictor`.

EdgeBERT's table regresses later entropies on H1 with an MLP (torch). The binned table holds,
for each (H1 bin, length bin, layer-1 answer) cell, the exit layer that minimizes a count over
the cell's training sentences: one for every sentence whose exit it misses, plus `weight` for
every sentence it stops early with another answer than the entropy exit would give (an early
stop that changes the answer costs accuracy; one that keeps it, or a late one, costs only
energy). The weight is chosen on the validation split: the largest share of exact predictions
whose accuracy with the predictor in force stays within `max_drop` of plain early exit.
"""
from __future__ import annotations

import numpy as np

from edgebert.accel.interface import MAX_CLASSES
from edgebert.accel.numerics.fixed import to_fixed
from edgebert.accel.numerics.functions import ENTROPY_FRAC
from edgebert.accel.predictor import H_BINS, LEN_BINS, ROWS, STEP, Binned, binned_cell
from edgebert.train.early_exit import entropy, exit_layers, exit_predictions

WEIGHTS = (1.0, 2.0, 4.0, 8.0)      # candidate costs of an answer-changing early stop
MAX_DROP = 0.003                    # accuracy the predictor may lose against early exit (validation)
MIN_CELL = 5                        # training sentences a cell needs; sparser cells fall back


def fit_table(entropies: np.ndarray, seed: int = 0, epochs: int = 300, lr: float = 1e-3) -> np.ndarray:
    """(100, L-2) table of predicted entropies for layers 2..L-1 from (N, L) training entropies."""
    import torch
    import torch.nn as nn
    entropies = np.asarray(entropies, dtype=np.float32)
    if entropies.ndim != 2 or entropies.shape[1] < 3:
        raise ValueError(f"need an (N, L>=3) entropy matrix, got shape {entropies.shape}")
    torch.manual_seed(seed)
    n_out = entropies.shape[1] - 2
    mlp = nn.Sequential(nn.Linear(1, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                        nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                        nn.Linear(64, n_out))
    x = torch.from_numpy(entropies[:, :1])
    y = torch.from_numpy(entropies[:, 1:-1])
    opt = torch.optim.Adam(mlp.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(256):
            opt.zero_grad()
            nn.functional.mse_loss(mlp(x[idx]), y[idx]).backward()
            opt.step()
    grid = torch.arange(ROWS, dtype=torch.float32)[:, None] * STEP
    with torch.no_grad():
        return mlp(grid).numpy().astype(np.float32)


class ExitSet:
    """What the predictors see of a set of sentences (float model): H1 in Q.16, length, layer-1
    answer, and what plain early exit does at `threshold` (exit layer, answer at every layer)."""

    def __init__(self, layer_logits: np.ndarray, lengths, threshold: float):
        z = np.asarray(layer_logits)
        ent = entropy(z).astype(np.float64)
        self.layers = z.shape[1]
        self.h1 = to_fixed(ent[:, 0], ENTROPY_FRAC).astype(np.int64)
        self.threshold_q16 = int(to_fixed(np.float64(threshold), ENTROPY_FRAC))
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.first = z[:, 0].argmax(-1)
        self.answers = z.argmax(-1)                          # (N, L)
        self.exits = exit_layers(ent, threshold)
        self.logits = z

    def accuracy_at(self, layers: np.ndarray, labels: np.ndarray) -> float:
        return float((exit_predictions(self.logits, layers) == labels).mean())


def fit_binned(s: ExitSet, weight: float, classes: int, edges=None, min_count: int = MIN_CELL) -> Binned:
    """The binned table from one training set. Edges default to the quartiles of its lengths.
    A cell with fewer than `min_count` sentences takes its entropy bin's choice over all lengths
    and answers, and an empty entropy bin the last layer (never early)."""
    if edges is None:
        edges = np.quantile(s.lengths, np.arange(1, LEN_BINS) / LEN_BINS).round().astype(np.int64)
    edges = np.maximum.accumulate(np.asarray(edges, dtype=np.int64))
    keys = np.array([binned_cell(h, n, a, edges) for h, n, a in zip(s.h1, s.lengths, s.first)]).reshape(-1, 3)
    late = s.h1 >= s.threshold_q16                       # the sentences the table decides for
    bins = np.full((H_BINS, LEN_BINS, classes), s.layers, dtype=np.uint8)
    costs = exit_costs(s, 1, weight)
    for hb in range(H_BINS):
        in_bin = late & (keys[:, 0] == hb)
        fallback = _best_layer(costs, np.flatnonzero(in_bin)) if in_bin.sum() >= min_count else s.layers
        bins[hb] = fallback
        for lb in range(LEN_BINS):
            for a in range(classes):
                idx = np.flatnonzero(in_bin & (keys[:, 1] == lb) & (keys[:, 2] == a))
                if len(idx) >= min_count:
                    bins[hb, lb, a] = _best_layer(costs, idx)
    return Binned(bins, edges)


def exit_costs(s: ExitSet, after: int, weight: float) -> np.ndarray:
    """(N, L - after) cost of predicting layer after + 1 .. L for each sentence: one if it misses
    the entropy exit, plus `weight` if it stops early with another answer than the entropy exit's."""
    later = np.arange(after + 1, s.layers + 1)
    true = s.exits[:, None]
    at_true = np.take_along_axis(s.answers, true - 1, axis=1)
    changed = (later[None] < true) & (s.answers[:, after:] != at_true)
    return (later[None] != true) + weight * changed


def _best_layer(costs: np.ndarray, idx: np.ndarray) -> int:
    """The layer 2..L of least total cost over sentences `idx` (the first on ties)."""
    return int(np.argmin(costs[idx].sum(axis=0))) + 2


def choose_binned(train: ExitSet, val: ExitSet, val_labels: np.ndarray, classes: int,
                  weights=WEIGHTS, max_drop: float = MAX_DROP) -> tuple[Binned, dict]:
    """Fit one table per weight on the training set and keep the one with the most exact
    predictions on validation among those within `max_drop` of early exit's accuracy (else the
    most cautious weight). Returns the table and the validation figures of every candidate."""
    ee = val.accuracy_at(val.exits, val_labels)
    candidates = []
    for w in weights:
        b = fit_binned(train, w, classes)
        pred = b.predict_all(val.h1, val.lengths, val.first, val.threshold_q16)
        acc = val.accuracy_at(np.minimum(val.exits, pred), val_labels)
        candidates.append((w, b, {"weight": w, "exact": float((pred == val.exits).mean()),
                                  "early": float((pred < val.exits).mean()), "accuracy": acc}))
    ok = [c for c in candidates if c[2]["accuracy"] >= ee - max_drop - 1e-12]
    w, best, _ = max(ok, key=lambda c: c[2]["exact"]) if ok else candidates[-1]
    return best, {"chosen_weight": w, "val_accuracy_ee": ee, "max_drop": max_drop,
                  "candidates": [c[2] for c in candidates]}


def fit_predictors(model, train_enc, val_enc, val_labels, threshold: float, seed: int = 0,
                   table: np.ndarray | None = None) -> tuple:
    """Both predictors of a trained model at its threshold: EdgeBERT's table from the training
    sentences' entropies (unless `table` is given: kept), and the binned table fitted on them
    with its weight chosen on the validation split. Returns (table, binned, report)."""
    from edgebert.train.evaluate import all_layer_logits
    train_logits = all_layer_logits(model, train_enc)
    if table is None:
        table = fit_table(entropy(train_logits).astype(np.float64), seed=seed)
    train = ExitSet(train_logits, [len(e.ids) for e in train_enc], threshold)
    val = ExitSet(all_layer_logits(model, val_enc), [len(e.ids) for e in val_enc], threshold)
    binned, report = choose_binned(train, val, np.asarray(val_labels), MAX_CLASSES)
    return table, binned, {"train_sentences": len(train_enc), "val_sentences": len(val_enc),
                           "binned": {**report, "edges": binned.edges.tolist()}}
