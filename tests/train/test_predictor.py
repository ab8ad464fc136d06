import numpy as np
import pytest

from edgebert.accel.interface import MAX_CLASSES
from edgebert.accel.predictor import (
    H_BINS,
    LEN_BINS,
    Binned,
    binned_cell,
    check_binned,
    exits_with_prediction,
    predict_exit,
    prediction_quality,
    table_row,
)
from edgebert.core.paths import SHIPPED_DATA
from edgebert.train.early_exit import exit_layers
from edgebert.train.predictor import ExitSet, choose_binned, fit_binned, fit_table

EDGEBERT_DATA = SHIPPED_DATA / "edgebert"


def test_table_row_rounds_to_nearest():
    assert table_row(0.0) == 0 and table_row(0.004) == 0 and table_row(0.006) == 1
    assert table_row(0.693) == 69 and table_row(5.0) == 99 and table_row(-1) == 0


def test_predict_exit_hand_cases():
    table = np.full((100, 4), 0.6, dtype=np.float32)   # layers 2..5 of a 6-layer model
    table[50] = [0.5, 0.4, 0.1, 0.05]
    assert predict_exit(table, 0.1, 0.2) == 1            # H1 already below T
    assert predict_exit(table, 0.5, 0.2) == 4            # first column below 0.2 is layer 4
    assert predict_exit(table, 0.5, 0.45) == 3
    assert predict_exit(table, 0.3, 0.2) == 6            # none below: the last layer


def test_quality_and_forced_exit():
    q = prediction_quality(np.array([2, 3, 5, 5]), np.array([2, 4, 4, 5]))
    assert q == {"exact": 0.5, "early": 0.25, "late": 0.25, "mean_abs_error_layers": 0.5}
    assert exits_with_prediction(np.array([3, 6, 2]), np.array([4, 5, 5])).tolist() == [3, 5, 2]


def test_fit_table_learns_a_known_relation():
    rng = np.random.default_rng(0)
    h1 = rng.uniform(0, 0.69, 3000)
    layers = np.stack([h1 * (0.9 ** k) for k in range(12)], axis=1)   # entropy decays per layer
    table = fit_table(layers, epochs=60)
    assert table.shape == (100, 10)
    grid = np.arange(100) * 0.01
    inside = grid <= 0.69
    expected = np.stack([grid * (0.9 ** k) for k in range(1, 11)], axis=1)
    assert np.abs(table[inside] - expected[inside]).max() < 0.03


def test_released_edgebert_table_reproduces_published_quality():
    """EdgeBERT's own SST-2 dev entropies and LUT (shipped in data/edgebert/): exact about 32 %,
    too early about 28 % at T = 0.25 (docs/model.md, exit predictor), and plain-EE average exit
    4.13."""
    ent = np.loadtxt(EDGEBERT_DATA / "edgebert_sst2_entropy.txt", delimiter=",")
    lut = np.loadtxt(EDGEBERT_DATA / "edgebert_sst2_lut.csv", delimiter=",")
    table = lut[:, 1:]
    assert np.allclose(lut[:, 0], np.arange(100) * 0.01)
    actual = exit_layers(ent, 0.25)
    assert actual.mean() == pytest.approx(4.13, abs=0.01)
    predicted = np.array([predict_exit(table, h, 0.25) for h in ent[:, 0]])
    q = prediction_quality(predicted, actual)
    assert q["exact"] == pytest.approx(0.32, abs=0.02)
    assert q["early"] == pytest.approx(0.28, abs=0.02)


def test_predictor_metrics_hand_case():
    from edgebert.train.evaluate import predictor_metrics
    # Three layers; sentence 0 is confident at layer 1, sentence 1 only at layer 3.
    logits = np.zeros((2, 3, 2))
    logits[0, :] = [5.0, 0.0]
    logits[1, 2] = [0.0, 5.0]
    table = np.full((100, 1), 0.05, dtype=np.float32)   # predicts layer 2 for every H1
    m = predictor_metrics(logits, np.array([0, 1]), table, threshold=0.1)
    # Sentence 0 exits at 1 (H1 < T); sentence 1 is forced out at the predicted layer 2, where
    # its logits are a tie and argmax says class 0: wrong.
    assert m["avg_exit_layer"] == 1.5 and m["accuracy"] == 0.5
    assert m["quality"] == {"exact": 0.5, "early": 0.5, "late": 0.0, "mean_abs_error_layers": 0.5}


# ---- the binned predictor ---------------------------------------------------------------------
def _binned(fill: int = 6) -> Binned:
    return Binned(np.full((H_BINS, LEN_BINS, MAX_CLASSES), fill, dtype=np.uint8), np.array([8, 16, 24]))


def test_binned_cell_and_prediction_hand_cases():
    b = _binned()
    assert binned_cell(0, 1, 0, b.edges) == (0, 0, 0)
    assert binned_cell(4095, 7, 1, b.edges) == (0, 0, 1)
    assert binned_cell(4096, 8, 1, b.edges) == (1, 1, 1)         # an edge belongs to the bin above
    assert binned_cell(1 << 20, 500, 3, b.edges) == (H_BINS - 1, LEN_BINS - 1, 3)   # clamped to the last bin
    b.bins[1, 1, 1] = 3
    assert b.predict(4096, 8, 1, threshold_q16=1000) == 3
    assert b.predict(4096, 8, 0, threshold_q16=1000) == 6
    assert b.predict(999, 8, 1, threshold_q16=1000) == 1         # H1 below the threshold: layer 1
    with pytest.raises(ValueError, match="outside 2..6"):
        check_binned(np.full((H_BINS, LEN_BINS, MAX_CLASSES), 7), b.edges, 6, MAX_CLASSES)
    with pytest.raises(ValueError, match="ascending"):
        check_binned(b.bins, np.array([16, 8, 24]), 6, MAX_CLASSES)


def _exit_set(n: int = 4000, seed: int = 0) -> tuple[ExitSet, np.ndarray]:
    """A 6-layer model whose sentences fall in two kinds by length: short ones (< 28 tokens) are
    confident from layer 2, long ones only at the last layer. Layer 1 is uncertain for all (H1 near ln 2)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(4, 40, n)
    labels = rng.integers(0, 2, n)
    sign = np.where(labels == 1, 1.0, -1.0)
    logits = np.zeros((n, 6, 2))
    logits[:, 0, 1] = 0.05 * sign
    confident_from = np.where(lengths < 28, 2, 6)     # short ones the majority
    for layer in range(2, 7):
        on = confident_from <= layer
        logits[on, layer - 1, 1] = 6.0 * sign[on]
        logits[~on, layer - 1, 1] = -0.1 * sign[~on]         # unsure, and wrong until layer 6
    return ExitSet(logits, lengths, threshold=0.2), labels


def test_fit_binned_learns_the_exit_from_length():
    s, _ = _exit_set()
    b = fit_binned(s, weight=4.0, classes=MAX_CLASSES, edges=[12, 28, 34])
    pred = b.predict_all(s.h1, s.lengths, s.first, s.threshold_q16)
    assert (pred == s.exits).mean() == 1.0                       # length tells the two kinds apart
    assert set(np.unique(b.bins[:, 0])) <= {2, 6}
    # Without the length, one layer per cell: EdgeBERT's H1-only information is not enough.
    pooled = fit_binned(s, weight=4.0, classes=MAX_CLASSES, edges=[1000, 1000, 1000])
    pooled_pred = pooled.predict_all(s.h1, s.lengths, s.first, s.threshold_q16)
    assert (pooled_pred == s.exits).mean() < 0.75


def test_answer_changing_early_stops_cost_more_with_a_larger_weight():
    s, labels = _exit_set()
    one_bin = [1000, 1000, 1000]        # every sentence in one length bin: 2 or 6 must be chosen
    cautious = fit_binned(s, weight=100.0, classes=MAX_CLASSES, edges=one_bin)
    eager = fit_binned(s, weight=0.0, classes=MAX_CLASSES, edges=one_bin)
    cell = binned_cell(int(s.h1[0]), 5, int(s.first[0]), one_bin)
    assert cautious.bins[cell] == 6 and eager.bins[cell] == 2
    best, report = choose_binned(s, s, labels, MAX_CLASSES, weights=(0.0, 100.0), max_drop=0.0)
    assert report["chosen_weight"] == 100.0                      # the eager table loses accuracy
    assert [c["weight"] for c in report["candidates"]] == [0.0, 100.0]
