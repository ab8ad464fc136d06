"""Exit-layer predictors the accelerator evaluates at the end of phase 1.

`edgebert`: EdgeBERT's look-up table from layer-1 entropy to the predicted entropies of later
layers.

Built as EdgeBERT builds it (harvard-acc/EdgeBERT, sw/Entropy_LUT): an MLP 1 -> 4x64 -> (L-2)
regresses the entropies of layers 2..L-1 on the layer-1 entropy over the training set; it is
then tabulated at H1 = 0.00, 0.01, ..., 0.99 (100 rows). Online, the row nearest to H1 is read
and the predicted exit is the first layer whose predicted entropy is below the threshold
(layer 1 itself when H1 < T; the last layer when none is). It serves any threshold.

`binned`: this project's predictor. Three features known after phase 1 select one cell of a
small table that holds the exit layer itself: the layer-1 entropy in bins of 1/16 nat
(H1 >> 12 in Q.16, 16 bins: up to 1 nat), the sentence length in LEN_BINS bins (edges stored
with the table) and the layer-1 answer (argmax of the off-ramp's logits, first on ties). The
cells are fitted for one threshold (the task's): layer 1 when H1 < T, else the cell's layer.
On chip: H_BINS * LEN_BINS * EB_MAX_CLASSES bytes plus LEN_BINS - 1 edges.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROWS = 100
STEP = 0.01

H_SHIFT = 12                 # Q.16 entropy >> 12: bins of 1/16 nat
H_BINS = 16
LEN_BINS = 4


def binned_cell(h1_q16: int, length: int, answer: int, edges) -> tuple[int, int, int]:
    """(entropy bin, length bin, answer) of one sentence: the table index the hardware forms."""
    hb = min(H_BINS - 1, int(h1_q16) >> H_SHIFT)
    lb = sum(int(length) >= int(e) for e in edges)
    return hb, lb, int(answer)


def predict_binned(bins: np.ndarray, edges, h1_q16: int, length: int, answer: int, threshold_q16: int) -> int:
    """1-based predicted exit layer from the binned table (H_BINS, LEN_BINS, EB_MAX_CLASSES)."""
    if h1_q16 < threshold_q16:
        return 1
    return int(np.asarray(bins)[binned_cell(h1_q16, length, answer, edges)])


def predict_binned_all(bins, edges, h1_q16, lengths, answers, threshold_q16: int) -> np.ndarray:
    return np.array([predict_binned(bins, edges, h, n, a, threshold_q16)
                     for h, n, a in zip(np.asarray(h1_q16), np.asarray(lengths), np.asarray(answers))],
                    dtype=np.int64)


@dataclass
class Binned:
    """The binned predictor of one task: exit layers (H_BINS, LEN_BINS, classes) and the
    LEN_BINS - 1 length edges (tokens; bin = number of edges <= length)."""
    bins: np.ndarray
    edges: np.ndarray

    def predict(self, h1_q16: int, length: int, answer: int, threshold_q16: int) -> int:
        return predict_binned(self.bins, self.edges, h1_q16, length, answer, threshold_q16)

    def predict_all(self, h1_q16, lengths, answers, threshold_q16: int) -> np.ndarray:
        return predict_binned_all(self.bins, self.edges, h1_q16, lengths, answers, threshold_q16)

    def to_dict(self) -> dict:
        return {"edges": [int(e) for e in self.edges], "bins": np.asarray(self.bins).tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Binned:
        return cls(np.asarray(d["bins"], dtype=np.uint8), np.asarray(d["edges"], dtype=np.int64))


def check_binned(bins: np.ndarray, edges, layers: int, max_classes: int) -> None:
    """The table's shape and contents as the accelerator reads them."""
    bins, edges = np.asarray(bins), np.asarray(edges)
    if bins.shape != (H_BINS, LEN_BINS, max_classes):
        raise ValueError(f"binned predictor table {bins.shape}, expected {(H_BINS, LEN_BINS, max_classes)}")
    if bins.min() < 2 or bins.max() > layers:
        raise ValueError(f"binned predictor layers outside 2..{layers}")
    if edges.shape != (LEN_BINS - 1,) or np.any(np.diff(edges) < 0) or edges.min() < 0:
        raise ValueError(f"binned predictor length edges {edges.tolist()}: want {LEN_BINS - 1} ascending values")


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
