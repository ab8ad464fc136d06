import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgebert.cli import main

EVAL_KEYS = {"task", "split", "n", "accuracy", "accuracy_all_layers", "threshold", "avg_exit_layer"}


def _last_json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sst2_eval():
    return _last_json(CliRunner().invoke(main, ["eval", "--task", "sst2", "--backend", "torch", "--json"]))


def test_eval_sst2_meets_targets(sst2_eval):
    out = sst2_eval
    assert EVAL_KEYS <= set(out)
    assert out["n"] == 872 and out["split"] == "dev"
    # The shipped tiny model reaches 0.847 with all layers (float, README); 0.80 catches a broken package.
    assert out["accuracy_all_layers"] >= 0.80
    assert out["accuracy"] >= out["accuracy_all_layers"] - 0.01
    assert out["avg_exit_layer"] <= 5.0
    assert sum(out["exit_histogram"]) == 872
    assert np.dot(np.arange(1, 13), out["exit_histogram"]) / 872 == pytest.approx(out["avg_exit_layer"])
    q = out["predictor"]
    assert q["exact"] + q["early"] + q["late"] == pytest.approx(1.0)


def test_eval_golden_backend_on_all_of_sst2_dev(sst2_eval):
    """The accelerator's arithmetic keeps the float model's accuracy (within 1 point)."""
    out = _last_json(CliRunner().invoke(main, ["eval", "--task", "sst2", "--backend", "golden", "--json"]))
    assert EVAL_KEYS | {"saturations", "accuracy_with_predictor", "threshold_q16"} <= set(out)
    assert out["n"] == 872 and out["backend"] == "golden"
    assert abs(out["accuracy_all_layers"] - sst2_eval["accuracy_all_layers"]) <= 0.01
    assert abs(out["accuracy"] - sst2_eval["accuracy_all_layers"]) <= 0.01
    assert out["threshold_q16"] == round(sst2_eval["threshold"] * 65536)
    assert sum(out["exit_histogram"]) == 872
    assert all(isinstance(v, int) for v in out["saturations"].values())


def test_eval_mrpc_pairs():
    out = _last_json(CliRunner().invoke(main, ["eval", "--task", "mrpc", "--json"]))
    assert out["n"] == 408 and sum(out["exit_histogram"]) == 408
    # Majority class: 0.684. The shipped student reaches 0.718 with all layers (float).
    assert out["accuracy_all_layers"] > 0.69
    assert 0.0 < out["f1"] <= 1.0 and 0.0 < out["f1_all_layers"] <= 1.0


def test_eval_threshold_zero_is_all_layers():
    out = _last_json(CliRunner().invoke(main, ["eval", "--task", "sst2", "--threshold", "0",
                                               "--limit", "50", "--json"]))
    assert out["n"] == 50 and out["avg_exit_layer"] == 12.0
    assert out["accuracy"] == out["accuracy_all_layers"]


def test_unknown_task_is_a_clear_error():
    result = CliRunner().invoke(main, ["eval", "--task", "qqp"])
    assert result.exit_code != 0
    assert "unknown task 'qqp'" in result.output


def test_sweep_writes_json_and_png(tmp_path):
    result = CliRunner().invoke(main, ["sweep", "--task", "sst2", "--out", str(tmp_path), "--json"])
    out = _last_json(result)
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert len(sweep["thresholds"]) == out["points"] and len(sweep["per_layer_accuracy"]) == 12
    avg = [p["avg_exit_layer"] for p in sweep["thresholds"]]
    assert all(b <= a + 1e-9 for a, b in zip(avg, avg[1:]))   # higher T never exits later
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predictor_from_entropy_file(tmp_path):
    # EdgeBERT-format input: N rows of 12 comma-separated entropies.
    rng = np.random.default_rng(0)
    h1 = rng.uniform(0, 0.69, 500)
    ent = np.stack([h1 * 0.8 ** k for k in range(12)], axis=1)
    src = tmp_path / "entropies.txt"
    np.savetxt(src, ent, delimiter=",")
    csv = tmp_path / "table.csv"
    out = _last_json(CliRunner().invoke(main, ["predictor", "--task", "sst2", "--entropies", str(src),
                                               "--out", str(csv), "--json"]))
    assert out["edgebert_table_from"] == str(src) and out["on_chip_bytes"]["edgebert"] == 100 * 10 * 4
    assert set(out["predictors"]) == {"edgebert", "binned"}
    table = np.loadtxt(csv, delimiter=",")
    assert table.shape == (100, 11) and np.allclose(table[:, 0], np.arange(100) * 0.01)
    # The row for H1 = 0.5 follows the relation the entropies were made with (layers 2..11).
    assert np.abs(table[50, 1:] - 0.5 * 0.8 ** np.arange(1, 11)).max() < 0.02


def test_shipped_binned_predictor_beats_edgebert_table_on_sst2_dev():
    """The shipped SST-2 binned predictor: more often exact and far less often too early
    (<= 15 %) than EdgeBERT's table, and with it in force the accuracy stays within 0.3 points
    of plain early exit. (Its exact share, 50 %, is below the 60 % aim: docs/model.md.)"""
    out = _last_json(CliRunner().invoke(main, ["predictor", "--task", "sst2", "--json"]))
    p = out["predictors"]
    assert set(p) == {"edgebert", "binned"} and out["n"] == 872
    for q in p.values():
        assert q["exact"] + q["early"] + q["late"] == pytest.approx(1.0)
    assert p["binned"]["early"] <= 0.15
    assert p["binned"]["exact"] > p["edgebert"]["exact"] and p["binned"]["early"] < p["edgebert"]["early"]
    assert p["binned"]["accuracy"] >= out["ee"]["accuracy"] - 0.003
    assert out["on_chip_bytes"]["binned"] < out["on_chip_bytes"]["edgebert"]


def test_predictor_write_needs_refit():
    r = CliRunner().invoke(main, ["predictor", "--task", "sst2", "--write"])
    assert r.exit_code != 0 and "--refit" in r.output


def test_shipped_mrpc_exits_early_without_losing_to_all_layers():
    """The shipped MRPC threshold (calibrated off-ramps) keeps accuracy and F1 within a point of
    all layers on dev, and is not the layer-1 majority answer (both classes predicted)."""
    r = CliRunner().invoke(main, ["eval", "--task", "mrpc", "--backend", "golden", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.strip().splitlines()[-1])
    assert out["accuracy"] >= out["accuracy_all_layers"] - 0.01 and out["f1"] >= out["f1_all_layers"] - 0.01
    assert out["exit_histogram"][0] < out["n"]
    majority = 279 / 408                               # MRPC dev: 279 paraphrases of 408 pairs
    all_positive_f1 = 2 * 279 / (279 + 408)
    assert out["accuracy"] != pytest.approx(majority) and out["f1"] != pytest.approx(all_positive_f1, abs=1e-4)
