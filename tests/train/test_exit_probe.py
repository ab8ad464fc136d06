import numpy as np
import pytest

from edgebert.train.exit_probe import ProbeSet, fit_head, predict, quality, run_probe
from edgebert.train.predictor import exit_costs


def _set(n: int = 600, informative: bool = True, seed: int = 0) -> ProbeSet:
    """A 6-layer model: layer 1 unsure for all; 60 % of the sentences confident from layer 2,
    the rest only at layer 6, where layer 2's answer is wrong. Off-ramp 1's pooled vector tells
    the two kinds apart (or is noise); off-ramp 2's always does."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    sign = np.where(labels == 1, 1.0, -1.0)
    late = rng.random(n) < 0.4
    logits = np.zeros((n, 6, 2))
    logits[:, 0, 1] = 0.05 * sign
    for layer in range(2, 7):
        on = ~late if layer < 6 else np.ones(n, bool)
        logits[on, layer - 1, 1] = 6.0 * sign[on]
        logits[~on, layer - 1, 1] = -0.1 * sign[~on]
    pooled = rng.normal(0, 1, (n, 2, 8)).astype(np.float32)
    if informative:
        pooled[:, 0, 0] += np.where(late, 3.0, -3.0)
    pooled[:, 1, 0] += np.where(late, 3.0, -3.0)
    return ProbeSet(logits, pooled, labels, threshold=0.2)


def test_costs_hand_case():
    logits = np.zeros((1, 4, 2))
    logits[0, :, 0] = [0.1, 3.0, 9.0, 9.0]               # answer 0 except layer 2; confident from layer 3
    logits[0, 1] = [0.0, 3.0]                            # layer 2: answer 1, confident, ...
    s = ProbeSet(logits, np.zeros((1, 2, 3)), np.array([0]), threshold=0.01)   # ... but not below 0.01
    assert s.exits.tolist() == [3]
    # After layer 1 the choices are layers 2, 3, 4: early with another answer, exact, late.
    assert exit_costs(s, 1, 5.0).tolist() == [[6.0, 0.0, 1.0]]
    assert exit_costs(s, 2, 5.0).tolist() == [[0.0, 1.0]]


def test_head_finds_the_exit_the_pooled_vector_encodes():
    s = _set()
    for after in (1, 2):
        q = quality(s, predict(fit_head(s, after, 1.0), s, after))
        assert q["exact"] == 1.0 and q["accuracy"] == q["accuracy_ee"]


def test_weight_trades_exact_for_accuracy_when_the_vector_says_nothing():
    train, val = _set(informative=False), _set(informative=False, seed=1)
    out = run_probe(train, val, val, weights=(0.0, 100.0), after=(1,), max_drop=0.0)["after_layer_1"]
    eager, cautious = (r["val"] for r in out["weights"])
    assert eager["early"] > 0.3 and eager["accuracy"] < eager["accuracy_ee"]    # stops at 2: wrong answers
    assert cautious["early"] == 0.0 and cautious["accuracy"] == cautious["accuracy_ee"]
    assert out["kept_weight"] == 100.0 and out["kept_within_max_drop"]


def test_head_needs_sentences_past_the_decision_layer():
    s = _set()
    s.exits[:] = 1
    with pytest.raises(ValueError, match="past layer 1"):
        fit_head(s, 1, 1.0)
