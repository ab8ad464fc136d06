import math

import numpy as np
import pytest
import torch

from edgebert.core.config import load_model_config
from edgebert.core.tokenization import Tokenizer
from edgebert.train.early_exit import entropy, exit_layers, exit_predictions, expected_saving
from edgebert.train.evaluate import all_layer_logits, choose_threshold, early_exit_metrics
from edgebert.train.model import EdgeBert


def test_entropy_hand_values():
    assert entropy(np.array([0.0, 0.0])) == pytest.approx(math.log(2))
    assert entropy(np.array([0.0, 0.0, 0.0])) == pytest.approx(math.log(3))
    # p = (e/(1+e), 1/(1+e)) for logits (1, 0)
    p = math.e / (1 + math.e)
    assert entropy(np.array([1.0, 0.0])) == pytest.approx(-(p * math.log(p) + (1 - p) * math.log(1 - p)))
    assert entropy(np.array([50.0, -50.0])) == pytest.approx(0.0, abs=1e-12)


def test_entropy_is_shift_invariant_and_torch_numpy_agree():
    x = np.array([[0.3, -1.2], [4.0, 2.5]])
    assert np.allclose(entropy(x), entropy(x + 100.0))
    assert np.allclose(entropy(torch.tensor(x)).numpy(), entropy(x))


def test_exit_layers_hand_cases():
    h = np.array([[0.10, 0.50, 0.60],    # below T at layer 1
                  [0.60, 0.20, 0.01],    # layer 2
                  [0.60, 0.60, 0.60],    # never: forced at the last layer
                  [0.30, 0.29, 0.10]])   # T is strict: 0.30 does not exit, 0.29 does
    assert exit_layers(h, 0.30).tolist() == [1, 2, 3, 2]
    assert exit_layers(h, 0.0).tolist() == [3, 3, 3, 3]


def test_exit_predictions_and_saving():
    logits = np.zeros((2, 3, 2))
    logits[0, 0] = [2, 0]
    logits[1, 2] = [0, 2]
    assert exit_predictions(logits, np.array([1, 3])).tolist() == [0, 1]
    assert expected_saving(np.array([1, 3]), 3) == pytest.approx(1 - 4 / 6)


def test_metrics_and_threshold_choice():
    logits = np.zeros((4, 3, 2))
    logits[:, 0] = [[3, 0], [3, 0], [0, 0.1], [0, 0.1]]   # confident and right; unsure
    logits[:, 2] = [[1, 0], [1, 0], [0, 1], [0, 1]]
    y = np.array([0, 0, 1, 1])
    m = early_exit_metrics(logits, y, 0.2)
    assert m["exit_histogram"] == [2, 0, 2] and m["avg_exit_layer"] == 2.0 and m["accuracy"] == 1.0
    assert choose_threshold(logits, y, 0.0) == pytest.approx(0.69)


def test_layer_by_layer_exit_equals_post_hoc_exit():
    torch.manual_seed(1)
    model = EdgeBert(load_model_config("tiny"), dropout=0.0).eval()
    with torch.no_grad():   # make off-ramps confident enough to exit at different layers
        for i, ramp in enumerate(model.ramps):
            ramp.classifier.weight.mul_(20 + 40 * i)
    tok = Tokenizer(64)
    enc = [tok.encode(s) for s in ["a fine film .", "dull", "not bad at all , really ."]]
    ent = entropy(all_layer_logits(model, enc))
    seen = set()
    for t in (0.7, 0.128, 0.06, 0.045, 0.0):
        post_hoc = exit_layers(ent, t)
        for e, layer in zip(enc, post_hoc):
            ids = torch.tensor([e.ids])
            _, exit_layer, ents = model.classify_early_exit(ids, torch.zeros_like(ids), t)
            assert exit_layer == layer
            assert len(ents) == exit_layer
            seen.add(exit_layer)
    assert len(seen) >= 3   # the comparison covered early, middle and last-layer exits
