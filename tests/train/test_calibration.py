"""Off-ramp temperature scaling and the early-exit threshold rule."""
import json

import numpy as np
import pytest
import torch

from edgebert.accel.interface import MAX_CLASSES
from edgebert.accel.predictor import Binned, check_binned
from edgebert.core.config import load_model_config
from edgebert.core.tokenization import Tokenizer
from edgebert.train.calibration import (
    calibrate_exit,
    choose_threshold,
    fit_temperature,
    fit_temperatures,
    fold_temperatures,
)
from edgebert.train.early_exit import entropy
from edgebert.train.evaluate import all_layer_logits
from edgebert.train.evaluate import choose_threshold as old_choose_threshold
from edgebert.train.model import EdgeBert
from edgebert.train.predictor import WEIGHTS


def _calibrated_logits(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is the true label distribution (temperature 1)."""
    z = rng.normal(0.0, 2.0, size=(n, 3))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    return z, y


@pytest.mark.parametrize("true_t", [0.5, 1.0, 3.0])
def test_fit_temperature_recovers_a_known_temperature(true_t):
    z, y = _calibrated_logits(20000, np.random.default_rng(0))
    # Logits scaled by T are calibrated only after dividing by T again.
    assert fit_temperature(z * true_t, y) == pytest.approx(true_t, rel=0.05)


def test_fit_temperatures_is_per_layer():
    z, y = _calibrated_logits(5000, np.random.default_rng(1))
    temps = fit_temperatures(np.stack([z * 4.0, z, z * 0.5], axis=1), y)
    assert temps == pytest.approx([4.0, 1.0, 0.5], rel=0.1)


def _model_and_batch():
    torch.manual_seed(0)
    model = EdgeBert(load_model_config("tiny", layers=3), dropout=0.0).eval()
    tok = Tokenizer(model.cfg.max_len)
    enc = [tok.encode("a fine day"), tok.encode("rain again", "and again, all week")]
    return model, enc


def test_folding_gives_logits_over_t():
    model, enc = _model_and_batch()
    before = all_layer_logits(model, enc)
    temps = [0.25, 2.0, 3.7]
    fold_temperatures(model, temps)
    after = all_layer_logits(model, enc)
    t = np.array(temps)[None, :, None]
    # Powers of two divide exactly; any other temperature to float32 rounding of the folded
    # weights, which is relative to the logits' scale, not to each (possibly cancelling) logit.
    assert np.array_equal(after[:, :2], before[:, :2] / t[:, :2])
    np.testing.assert_allclose(after, before / t, rtol=1e-6, atol=1e-6 * float(np.abs(before).max()))
    with pytest.raises(ValueError, match="3 off-ramps"):
        fold_temperatures(model, [1.0])


def test_calibrate_exit_folds_and_reports():
    model, enc = _model_and_batch()
    y = np.array([0, 1])
    out = calibrate_exit(model, lambda m: all_layer_logits(m, enc), y, {"temperature": True}, False)
    assert len(out["temperatures"]) == 3 and "rule" in out
    np.testing.assert_allclose(out["val_logits"], all_layer_logits(model, enc))


def _majority_trap(layer1_margin: float):
    """The MRPC failure: layer 1 says 'positive' for every pair with low entropy; the last layer
    predicts both classes and is only one point better than the majority class (69 % vs 68 %),
    so the constant answer is within one point on accuracy and above all layers on F1."""
    y = np.array([1] * 68 + [0] * 32)
    logits = np.zeros((100, 2, 2))
    logits[:, 0] = [-layer1_margin, layer1_margin]
    last = np.where(y[:, None] == 1, [[-1.0, 1.0]], [[1.0, -1.0]])
    last[:8] *= -1                  # 8 positives missed
    last[68:68 + 23] *= -1          # 23 negatives called positive
    logits[:, 1] = last
    return logits, y


def test_rule_rejects_a_constant_early_exit_answer():
    logits, y = _majority_trap(4.0)
    # The accuracy-only rule lets the constant answer through at the largest threshold.
    assert old_choose_threshold(logits, y, 0.01) == pytest.approx(0.69)
    out = choose_threshold(logits, y, tolerance=0.01, with_f1=True)
    assert out["all_layers"]["accuracy"] == pytest.approx(0.69)
    # Layer 1's entropy (3e-3) is below every grid threshold: every one is constant.
    assert out["rejected"] == {"constant": 69, "accuracy": 0, "f1": 0, "balanced_accuracy": 0}
    assert out["threshold"] == 0.0 and not out["qualified"]


def test_rule_keeps_thresholds_below_the_constant_layer():
    logits, y = _majority_trap(1.5)
    h1 = float(entropy(logits[0, 0]))          # 0.191: thresholds above it send all to layer 1
    out = choose_threshold(logits, y, tolerance=0.01, with_f1=True)
    assert out["qualified"] and out["threshold"] == pytest.approx(np.floor(h1 * 100) / 100)
    assert out["rejected"]["constant"] == 69 - int(np.floor(h1 * 100))


def test_rule_rejects_a_nearly_constant_answer():
    # As above, but 5 pairs (3 of them negatives, answered right by the last layer) are unsure
    # at layer 1 and go on: the answer is no longer constant, accuracy and F1 still pass, and
    # balanced accuracy (53 % against 56 %) rejects it.
    logits, y = _majority_trap(4.0)
    late = [0, 1, 95, 96, 97]
    logits[late, 0] = [0.0, 0.1]
    logits[late, 1] = np.where(y[late, None] == 1, [[-1.0, 1.0]], [[1.0, -1.0]])
    out = choose_threshold(logits, y, tolerance=0.01, with_f1=True)
    assert out["rejected"]["constant"] == 0 and out["rejected"]["balanced_accuracy"] == 69
    assert out["rejected"]["accuracy"] == out["rejected"]["f1"] == 0
    assert out["threshold"] == 0.0


def test_rule_rejects_thresholds_past_the_f1_tolerance():
    # Layer 1 confident on every sentence; right on all positives, calls 8 of 80 negatives
    # positive: accuracy 92 %, balanced accuracy 95 %, F1 83 %, all against 100 %. A tolerance of
    # 10 points passes accuracy and balanced accuracy and fails F1.
    y = np.array([1] * 20 + [0] * 80)
    logits = np.zeros((100, 2, 2))
    logits[:, 0] = np.where(y[:, None] == 1, [[-4.0, 4.0]], [[4.0, -4.0]])
    logits[20:28, 0] = [-4.0, 4.0]
    logits[:, 1] = np.where(y[:, None] == 1, [[-1.0, 1.0]], [[1.0, -1.0]])
    acc_only = choose_threshold(logits, y, tolerance=0.10, with_f1=False)
    assert acc_only["threshold"] == pytest.approx(0.69)
    with_f1 = choose_threshold(logits, y, tolerance=0.10, with_f1=True)
    assert with_f1["rejected"]["f1"] > 0
    assert with_f1["rejected"]["accuracy"] == with_f1["rejected"]["balanced_accuracy"] == 0
    assert with_f1["threshold"] < acc_only["threshold"]


def test_rule_returns_zero_when_nothing_qualifies():
    # Every layer answers the majority class: no threshold gives a non-constant answer.
    y = np.array([1] * 7 + [0] * 3)
    logits = np.zeros((10, 3, 2))
    logits[:] = [-0.5, 0.5]
    out = choose_threshold(logits, y, with_f1=True)
    assert out["threshold"] == 0.0 and not out["qualified"] and "early exit off" in out["note"]
    assert out["rejected"]["constant"] == 69


def test_rule_keeps_a_useful_threshold():
    # Layer 1 is confident only where it is right: the largest grid threshold qualifies.
    y = np.array([0, 1] * 10)
    logits = np.zeros((20, 2, 2))
    logits[:, 0] = np.where(y[:, None] == 1, [[-5.0, 5.0]], [[5.0, -5.0]])
    logits[:, 1] = logits[:, 0] / 5
    out = choose_threshold(logits, y, with_f1=True)
    assert out["threshold"] == pytest.approx(0.69) and out["qualified"]
    assert out["all_layers"] == {"accuracy": 1.0, "f1": 1.0, "balanced_accuracy": 1.0}


def test_calibrate_step_reports_temperatures_and_rule(tmp_path):
    from edgebert.train.package import save_checkpoint
    from edgebert.train.pipeline import Run
    glue = tmp_path / "glue" / "SST-2"
    glue.mkdir(parents=True)
    rows = [f"sentence number {i} is {'good' if i % 2 else 'bad'}\t{i % 2}" for i in range(40)]
    (glue / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    cfg = {"task": "sst2", "model": "tiny", "seed": 0, "validation_size": 20,
           "embedding": {"path": "models/tiny/embedding.npz"}, "stages": {},
           "exit": {"predictor_train_sentences": 10}, "calibrate": {"temperature": True}}
    run = Run(cfg, tmp_path / "run", tmp_path / "glue")
    run.out.mkdir()
    torch.manual_seed(0)
    save_checkpoint(EdgeBert(run.model_cfg, dropout=0.0), run.path("stage2.safetensors"))
    out = run.step_calibrate()
    assert len(out["temperatures"]) == run.model_cfg.layers
    assert out["threshold"] == out["rule"]["threshold"] and "val_logits" not in out
    assert (run.path("predictor_table.npy")).is_file()
    binned = Binned.from_dict(json.loads(run.path("binned_predictor.json").read_text()))
    check_binned(binned.bins, binned.edges, run.model_cfg.layers, MAX_CLASSES)
    assert out["predictors"]["binned"]["chosen_weight"] in WEIGHTS


def test_a_calibrated_package_is_not_calibrated_twice():
    """The shipped MRPC package carries folded temperatures: folding them again would scale the
    off-ramps twice, so the command refuses."""
    from edgebert.core.errors import InputError
    from edgebert.core.paths import DEFAULT_MODEL_DIR
    from edgebert.train.recalibrate import recalibrate_package
    with pytest.raises(InputError, match="already calibrated"):
        recalibrate_package(DEFAULT_MODEL_DIR, "mrpc")
