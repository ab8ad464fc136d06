"""How well can the off-ramps' own features predict the exit layer? A probe, float, not on chip.

The predictors the accelerator runs (EdgeBERT's table, the binned table) decide after phase 1
from a few numbers. The probe asks how much the richest input at that point can do, and the
same one layer later: a multinomial linear classifier over an off-ramp's pooled vector (the
tanh output its classifier reads, H values), deciding after layer `after`. Sentences whose
entropy exit is at or before `after` are decided by the entropy itself (exact by
construction); the classifier picks among the later layers.

It is fitted cost-sensitively on the predictors' training sentences: the expected cost under its
softmax (the binned table's count: one for a missed exit, plus `weight` for an early stop that
changes the answer) plus CE times the cross-entropy, so that its argmax is the cost-aware
choice. The weight is kept by the binned table's rule (the most exact on validation within
MAX_DROP of plain early exit's accuracy), and dev is reported for every weight beside it.
"""
from __future__ import annotations

import numpy as np

from edgebert.train.predictor import MAX_DROP, WEIGHTS, ExitSet, exit_costs

CE = 0.1            # cross-entropy beside the expected cost: keeps the scores apart
EPOCHS = 500        # full-batch Adam steps
AFTER = (1, 2)      # decision after layer 1 (phase 1) and, for comparison, after layer 2


class ProbeSet(ExitSet):
    """A set of sentences as the probe sees it: the predictors' view (edgebert.train.predictor.
    ExitSet), the pooled vectors of off-ramps 1..max(AFTER) (N, A, H) and the labels."""

    def __init__(self, logits: np.ndarray, pooled: np.ndarray, labels: np.ndarray, threshold: float, lengths=None):
        super().__init__(logits, np.ones(len(logits), dtype=np.int64) if lengths is None else lengths, threshold)
        self.pooled, self.labels = pooled, np.asarray(labels)

    def accuracy(self, layers: np.ndarray) -> float:
        return self.accuracy_at(layers, self.labels)


def fit_head(s: ProbeSet, after: int, weight: float, seed: int = 0, epochs: int = EPOCHS):
    """The linear classifier over off-ramp `after`'s pooled vector (torch)."""
    import torch
    late = s.exits > after
    if not late.any():
        raise ValueError(f"no training sentence goes past layer {after}: nothing to fit")
    torch.manual_seed(seed)
    x = torch.from_numpy(np.asarray(s.pooled[late, after - 1], dtype=np.float32))
    y = torch.from_numpy(s.exits[late] - after - 1)
    cost = torch.from_numpy(exit_costs(s, after, weight)[late].astype(np.float32))
    head = torch.nn.Linear(x.shape[1], s.layers - after)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(epochs):
        opt.zero_grad()
        z = head(x)
        loss = (torch.softmax(z, -1) * cost).sum(-1).mean() + CE * torch.nn.functional.cross_entropy(z, y)
        loss.backward()
        opt.step()
    return head


def predict(head, s: ProbeSet, after: int) -> np.ndarray:
    """Predicted exit layers: the entropy's own exit up to layer `after`, the head's after it."""
    import torch
    with torch.no_grad():
        z = head(torch.from_numpy(np.asarray(s.pooled[:, after - 1], dtype=np.float32))).numpy()
    return np.where(s.exits <= after, s.exits, z.argmax(-1) + after + 1)


def quality(s: ProbeSet, predicted: np.ndarray) -> dict:
    """Exact / early / late shares against the entropy exit, and the accuracy with the
    prediction in force (a run stops at the predicted layer at the latest) against plain early
    exit's."""
    return {"exact": float((predicted == s.exits).mean()), "early": float((predicted < s.exits).mean()),
            "late": float((predicted > s.exits).mean()),
            "accuracy": s.accuracy(np.minimum(s.exits, predicted)), "accuracy_ee": s.accuracy(s.exits)}


def run_probe(train: ProbeSet, val: ProbeSet, dev: ProbeSet, weights=WEIGHTS, after=AFTER, seed: int = 0,
              max_drop: float = MAX_DROP) -> dict:
    """For each decision layer: every weight's validation and dev figures, and the weight the
    validation rule keeps (the most cautious when none stays within `max_drop`: flagged)."""
    out = {}
    for a in after:
        rows = []
        for w in weights:
            head = fit_head(train, a, w, seed)
            rows.append({"weight": w, "val": quality(val, predict(head, val, a)),
                         "dev": quality(dev, predict(head, dev, a))})
        ok = [r for r in rows if r["val"]["accuracy"] >= r["val"]["accuracy_ee"] - max_drop - 1e-12]
        kept = max(ok, key=lambda r: r["val"]["exact"]) if ok else rows[-1]
        out[f"after_layer_{a}"] = {"kept_weight": kept["weight"], "kept_within_max_drop": bool(ok),
                                   "kept_dev": kept["dev"], "weights": rows}
    return out


def probe_package(model_dir, task_name: str, data_dir, dev_enc, dev_labels, seed: int = 0) -> dict:
    """The probe on a packaged task: its predictor training sample and validation split (as its
    calibrate step drew them), and dev, through the package's fake-quantized model."""
    from edgebert.train.evaluate import all_layer_logits, ramp_pooled
    from edgebert.train.recalibrate import package_sets
    model, manifest, sets = package_sets(model_dir, task_name, data_dir)
    t, deepest = manifest["threshold"], max(AFTER)

    def probe_set(enc, labels):
        return ProbeSet(all_layer_logits(model, enc), ramp_pooled(model, enc, deepest), labels, t,
                        [len(e.ids) for e in enc])
    train = probe_set(sets["train"], sets["train_y"])
    report = run_probe(train, probe_set(sets["val"], sets["val_y"]), probe_set(dev_enc, dev_labels), seed=seed)
    return {"model": "float, fake-quantized (the numerics the predictors are fitted on); not on chip",
            "train_sentences": len(sets["train"]), "val_sentences": len(sets["val"]), "ce": CE,
            "max_drop": MAX_DROP, **report}
