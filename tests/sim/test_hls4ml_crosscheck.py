"""The accelerator's kernels against hls4ml's nnet_utils kernels on the same fixed-point inputs
(host/sim/hls4ml_check.py): every operator in both, the project's errors against float64 within
bounds derived from its formats and tables, and the dense outputs bit for bit equal where both
accumulate exactly and round once."""
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from edgebert.cli import main
from edgebert.sim import hls4ml_check
from edgebert.sim.csim import CSimError

Q10_HALF = 2.0 ** -11        # half an LSB of the Q5.10 outputs (dense, LayerNorm, GELU)
Q14_HALF = 2.0 ** -15        # half an LSB of tanh's Q1.14 output
PROB_LSB = 2.0 ** -15        # UQ1.15 probabilities
TABLE_HALF = 2.0 ** -17      # half an LSB of a Q.16 table sample, and of the interpolation's rounding
H = 2.0 ** -5                # GELU/tanh table spacing (32 segments per unit)


def pwl_bound(out_half: float, max_f2: float) -> float:
    """Linear interpolation between samples H apart is off by at most H^2/8 max|f''|; the sample
    and the interpolated value are each rounded to Q.16, then once to the output format."""
    return out_half + H * H / 8 * max_f2 + 2 * TABLE_HALF


@pytest.fixture(scope="module")
def report():
    return hls4ml_check.crosscheck(seed=1, n=200)


def rows(report, op):
    return [r for r in report["rows"] if r["operator"] == op]


def edgebert(report, op):
    (row,) = [r for r in rows(report, op) if r["family"] == "edgebert"]
    return row


def test_every_operator_runs_in_both_implementations(report):
    assert [r["operator"] for r in report["rows"]] == [op for op in hls4ml_check.OPERATORS
                                                       for _ in hls4ml_check.IMPLEMENTATIONS[op]]
    for op in hls4ml_check.OPERATORS:
        assert {r["family"] for r in rows(report, op)} == {"edgebert", "hls4ml"}, op
    for r in report["rows"]:
        assert r["count"] > 0 and math.isfinite(r["max_abs_err"]) and math.isfinite(r["mean_abs_err"]), r
        assert 0 <= r["mean_abs_err"] <= r["max_abs_err"], r
    json.dumps(report)


def test_dense_is_bit_identical_when_both_accumulate_exactly(report):
    """Integer products summed exactly and rounded half up once, saturating: the same words."""
    assert report["dense_outside_format"] == 0       # no saturation: the float reference is fair
    assert report["dense_word_mismatches"] == 0
    exact = {r["implementation"]: r for r in rows(report, "dense")}
    assert exact["edgebert"]["max_abs_err"] == exact["hls4ml exact"]["max_abs_err"]
    assert edgebert(report, "dense")["max_abs_err"] <= Q10_HALF
    # truncating every product into ap_fixed<16,6> (hls4ml's model-wide default) is visibly worse
    assert exact["hls4ml default"]["max_abs_err"] > 8 * Q10_HALF


def test_softmax_error_is_at_the_probability_lsb(report):
    """Each e^x is rounded once to UQ1.15 (tails below half an LSB become 0), so the row sum of
    N terms is off by at most N/2 LSB and a probability by that share of it plus its own two
    roundings; the reciprocal floor(2^40 / sum) and the 2^f table add well under one LSB."""
    n = report["sizes"]["softmax_n"]
    row = edgebert(report, "softmax")
    assert row["max_abs_err"] <= (n / 2 + 2) * PROB_LSB
    assert row["mean_abs_err"] <= PROB_LSB


def test_layernorm_error_is_half_an_output_lsb(report):
    """Mean and variance are exact integers and the square root and reciprocal are exact floors;
    what remains is the output rounding plus the Q.20 normalized value scaled by gamma sqrt(W)
    (2^-21 * sqrt(768) * 1.25 < 2^-14)."""
    assert edgebert(report, "layernorm")["max_abs_err"] <= Q10_HALF + 2.0 ** -14


def test_gelu_and_tanh_errors_are_the_table_interpolation(report):
    assert edgebert(report, "gelu")["max_abs_err"] <= pwl_bound(Q10_HALF, 2 / math.sqrt(2 * math.pi))
    assert edgebert(report, "tanh")["max_abs_err"] <= pwl_bound(Q14_HALF, 4 / (3 * math.sqrt(3)))


def test_edgebert_is_never_less_accurate_than_hls4ml(report):
    for op in hls4ml_check.OPERATORS:
        ours = edgebert(report, op)["max_abs_err"]
        assert all(ours <= r["max_abs_err"] for r in rows(report, op)), op


def test_the_text_table_names_every_row(report):
    text = hls4ml_check.format_table(report)
    for r in report["rows"]:
        assert r["implementation"] in text and r["config"] in text
    assert "0 differing output words" in text


def test_cli_prints_one_json_object_last():
    r = CliRunner().invoke(main, ["csim", "crosscheck", "--seed", "2", "--n", "20", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.strip().splitlines()[-1])
    assert out["n"] == 20 and out["seed"] == 2 and out["dense_word_mismatches"] == 0
    assert np.isfinite([row["max_abs_err"] for row in out["rows"]]).all()


def test_a_missing_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-g++")
    with pytest.raises(CSimError, match="not found"):
        hls4ml_check.build_driver()
