"""Entropy-based early exit (DeeBERT / EdgeBERT): one threshold T for every layer.

Layer l's off-ramp logits x give the entropy H = ln sum e^x - sum x e^x / sum e^x (nats);
the sentence exits at the first layer with H < T, and always at the last layer.
"""
from __future__ import annotations

import numpy as np
import torch


def entropy(logits):
    """Entropy in nats of softmax(logits) along the last axis (torch or numpy)."""
    if isinstance(logits, np.ndarray):
        return entropy(torch.from_numpy(logits.astype(np.float64))).numpy()
    logz = torch.logsumexp(logits, dim=-1)
    p = torch.softmax(logits, dim=-1)
    return logz - (p * logits).sum(-1)


def exit_layers(entropies: np.ndarray, threshold: float) -> np.ndarray:
    """1-based exit layer per sentence from an (N, L) entropy matrix."""
    entropies = np.asarray(entropies)
    n, num_layers = entropies.shape
    below = entropies < threshold
    below[:, -1] = True  # the last layer always exits
    return below.argmax(axis=1) + 1


def exit_predictions(layer_logits: np.ndarray, layers: np.ndarray) -> np.ndarray:
    """Prediction of each sentence at its exit layer, from (N, L, C) logits."""
    return layer_logits[np.arange(len(layers)), layers - 1].argmax(-1)


def expected_saving(layers: np.ndarray, num_layers: int) -> float:
    """DeeBERT's expected saving: 1 - (sum of exit layers) / (N * L)."""
    return 1.0 - float(np.sum(layers)) / (len(layers) * num_layers)
