"""The C-sim fuzzer: a short run is clean, covers every category and every reachable saturation
path, and the sanitizer sample runs; a corrupted C-sim result is caught, and its reproducer
replays to the same mismatch (the fuzzer can fail)."""
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from edgebert.accel.interface import Command
from edgebert.accel.interface import Result as R
from edgebert.accel.numerics import functions as fn
from edgebert.accel.numerics.fixed import Saturations, act
from edgebert.sim import fuzz
from edgebert.sim.fuzz_cases import CATEGORIES, build_group, find_case, groups


def test_a_short_run_is_clean_and_covers_every_category(tmp_path):
    out = fuzz.fuzz(200, seed=0, sanitize_sample=48, out_dir=tmp_path, jobs=1)
    assert out["n"] == 200 and out["mismatches"] == 0, out["reproducers"]
    assert all(out["categories"][c] > 0 for c in CATEGORIES), out["categories"]
    assert {s for s, hits in out["saturations"].items() if not hits} <= {"gelu"}, out["saturations"]
    assert out["exit_layers"].get("1") and out["exit_layers"].get("phase1_only")
    assert any(int(k) >= 8 for k in out["exit_layers"] if k.isdigit())
    san = out["sanitizer"]
    assert san["clean"] and san["sample"] == san["n"] == 48, san
    assert not list(tmp_path.iterdir())              # no mismatch, no reproducer


def test_gelu_cannot_saturate_in_the_accelerator():
    """Why the gelu counter stays at zero: GELU's input and output share the ffn format, and no
    16-bit word in any fraction clips."""
    x = np.arange(-32768, 32768)
    for frac in range(16):
        sat = Saturations()
        fn.gelu(x, frac, act(frac), fn.tables()["gelu"], sat)
        assert not sat, frac


def test_cases_are_a_function_of_the_seed_and_index():
    grp = build_group(3, next(g for g in groups(3, 100) if g.index == 2))
    again, case = find_case(3, grp.start + 5)
    assert case == grp.cases[5]
    np.testing.assert_array_equal(again.task.matrices["layer.q"].codes, grp.task.matrices["layer.q"].codes)


@pytest.fixture()
def corrupt_logit(monkeypatch):
    """The C-sim's phase-1 logit 0 off by one."""
    real = fuzz.Fuzzer._phase

    def flipped(self, cmd, **args):
        words = real(self, cmd, **args)
        if cmd == Command.PHASE1:
            words[R.LOGITS] ^= 1
        return words
    monkeypatch.setattr(fuzz.Fuzzer, "_phase", flipped)


def test_a_corrupted_result_is_caught_and_its_reproducer_replays(corrupt_logit, tmp_path):
    tally = fuzz.run_groups(5, groups(5, 30), out_dir=tmp_path)
    assert tally.mismatches == tally.n == 30
    rep = tally.reproducers[0]
    assert rep["index"] == 0 and "phase 1 logit[0]" in rep["differences"][0]
    again = fuzz.replay(rep["file"])
    assert again["mismatch"] and again["differences"] == again["recorded"]
    assert again["differences"][:len(rep["differences"])] == rep["differences"]
    assert fuzz.replay_index(5, rep["index"]) == again["differences"]
    spec = json.loads(open(rep["file"]).read())
    assert spec["seed"] == 5 and spec["threshold_h1"] is None and spec["ids"]


def test_the_command_reports_and_replays(corrupt_logit, tmp_path):
    from edgebert.cli import main
    run = CliRunner().invoke(main, ["csim", "fuzz", "--n", "24", "--seed", "2", "--sanitize-sample", "0",
                                    "--jobs", "1", "--out", str(tmp_path), "--json"])
    out = json.loads(run.output.strip().splitlines()[-1])
    assert run.exit_code == 1 and out["n"] == 24 and out["mismatches"] == 24
    assert out["sanitizer"]["clean"] is None and out["seconds"] > 0
    again = CliRunner().invoke(main, ["csim", "fuzz", "--replay", out["reproducers"][0]["file"], "--json"])
    assert again.exit_code == 1 and json.loads(again.output.strip().splitlines()[-1])["mismatch"]


def test_a_sanitizer_report_makes_the_sample_unclean():
    script = ("import sys, json; print(json.dumps({'n': 3, 'mismatches': 0}));"
              "sys.stderr.write('==1==ERROR: AddressSanitizer: heap-buffer-overflow\\n'); sys.exit(1)")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = fuzz.finish_sanitized({"proc": proc, "sample": 3})
    assert out["clean"] is False and out["sanitizer_reports"]
