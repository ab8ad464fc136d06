import numpy as np
import pytest

from edgebert.accel.predictor import exits_with_prediction, predict_exit, prediction_quality, table_row
from edgebert.core.paths import SHIPPED_DATA
from edgebert.train.early_exit import exit_layers
from edgebert.train.predictor import fit_table

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
