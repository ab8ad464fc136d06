"""EdgeBERT's exit-layer predictor: a look-up table from layer-1 entropy to the predicted
entropies of later layers.

Built as EdgeBERT builds it (harvard-acc/EdgeBERT, sw/Entropy_LUT): an MLP 1 -> 4x64 -> (L-2)
regresses the entropies of layers 2..L-1 on the layer-1 entropy over the training set; it is
then tabulated at H1 = 0.00, 0.01, ..., 0.99 (100 rows). Online, the row nearest to H1 is read
and the predicted exit is the first layer whose predicted entropy is below the threshold
(layer 1 itself when H1 < T; the last layer when none is).
"""
from __future__ import annotations

import numpy as np

ROWS = 100
STEP = 0.01


def table_row(h1: float) -> int:
    """Nearest row of the 0.00..0.99 grid."""
    return int(min(ROWS - 1, max(0, round(float(h1) / STEP))))


def predict_exit(table: np.ndarray, h1: float, threshold: float) -> int:
    """1-based predicted exit layer for one sentence (table has L-2 columns: layers 2..L-1)."""
    if h1 < threshold:
        return 1
    below = np.flatnonzero(np.asarray(table)[table_row(h1)] < threshold)
    return int(below[0]) + 2 if below.size else table.shape[1] + 2


def predict_exits(table: np.ndarray, h1: np.ndarray, threshold: float) -> np.ndarray:
    return np.array([predict_exit(table, h, threshold) for h in np.asarray(h1)], dtype=np.int64)


def prediction_quality(predicted: np.ndarray, actual: np.ndarray) -> dict:
    """Shares of sentences whose predicted exit is exact, too early, or too late."""
    predicted, actual = np.asarray(predicted), np.asarray(actual)
    return {"exact": float((predicted == actual).mean()), "early": float((predicted < actual).mean()),
            "late": float((predicted > actual).mean()),
            "mean_abs_error_layers": float(np.abs(predicted - actual).mean())}


def exits_with_prediction(actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Exit layer when the predictor is in force: the run still stops at the first layer whose
    entropy is below the threshold, and is forced to stop at the predicted layer."""
    return np.minimum(np.asarray(actual), np.asarray(predicted))
