"""The host runtime: boards and clocks, the DVFS policies, backends and task switching, the
resumable runner, and bad input."""
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from edgebert.accel import images
from edgebert.accel.asic12nm import load_grid
from edgebert.accel.cost import Schedule
from edgebert.accel.golden import GoldenModel
from edgebert.cli import main
from edgebert.core.tokenization import Tokenizer
from edgebert.runtime.boards import BOARDS, get_board
from edgebert.runtime.clocks import Clock, ClockError
from edgebert.runtime.inputs import task_items, text_items
from edgebert.runtime.policy import POLICIES, phase1_clock, phase2_plan
from edgebert.runtime.runner import RunLogError, open_log, run
from edgebert.sim.backend import CSimBackend


@pytest.fixture(scope="module")
def tasks(artifact):
    return artifact


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(128)


# ---- boards, clocks, V/F -----------------------------------------------------------------------
def test_reachable_clocks_follow_the_divisors():
    z2 = get_board("pynq-z2")
    assert z2.top_clock == 100.0 and z2.clock_table[100.0] in ((1, 10), (2, 5))
    zu = get_board("zcu104")
    assert zu.top_clock == 187.5                        # 1500 / 8: 200 itself is not reachable
    for f, (a, b) in zu.clock_table.items():
        assert abs(1500 / (a * b) - f) < 1e-3 and f <= zu.fmax_mhz
    with pytest.raises(ValueError, match="known boards"):
        get_board("zedboard")


def test_clock_refuses_unreachable_and_too_fast():
    c = Clock(get_board("zcu104"))
    assert c.set(150.0) == 150.0 and c.switches == 1
    with pytest.raises(ClockError, match="timing-closed maximum"):
        c.set(300.0)
    with pytest.raises(ClockError, match="not reachable"):
        c.set(200.0)
    assert c.mhz == 150.0


def test_vf_grid_is_monotonic_and_spans_the_paper_range():
    g = load_grid()
    pts = g.points
    assert len(pts) == 16 and pts[0].volts == 0.5 and pts[-1].volts == 0.8
    assert pts[-1].mhz == pytest.approx(1000.0)
    assert all(a.mhz < b.mhz for a, b in zip(pts, pts[1:]))
    assert g.min_ratio == pytest.approx(0.45, abs=0.01)   # docs/design.md section 8.4: f(0.5) / f(0.8) = 0.45


@pytest.mark.parametrize("board", list(BOARDS))
def test_every_policy_clock_is_reachable_and_within_the_maximum(board, tasks):
    b = get_board(board)
    clock, grid = Clock(b), load_grid()
    sched = Schedule(tasks["sst2"].cfg, b.array_n)
    top, sw = b.top_clock, b.clock_switch_us / 1e3
    for target in np.geomspace(0.01, 500, 40):
        for tokens in (3, 40, 128):
            for predicted in range(2, 13):
                for policy in POLICIES:
                    d = phase2_plan(policy, clock, grid, sched, tokens, 12, predicted, predicted,
                                    used_ms=0.1, target_ms=float(target))
                    assert d.mhz in b.clock_table and d.mhz <= b.fmax_mhz
                    assert d.vf in grid.points
                    if policy.startswith("lai") and not d.planned_miss:
                        # the clock chosen finishes the remaining work within the target
                        assert 0.1 + (d.mhz != top) * sw + d.remaining_cycles / (d.mhz * 1e3) <= target + 1e-9


@pytest.mark.parametrize("early", [1, 2, 3, 4, 5])
def test_no_policy_misses_a_target_the_all_layer_top_run_meets(early, tasks):
    """Predictions one to five layers too early: lai and lai-slack stop at the prediction; their
    phase-1 and phase-2 clocks never push a sentence past a target that 12 layers at the top
    clock meet (lai-slack's phase 1 reserves the worst case)."""
    b = get_board("sim")
    clock, grid = Clock(b), load_grid()
    sched = Schedule(tasks["sst2"].cfg, b.array_n)
    top, sw = b.top_clock, b.clock_switch_us / 1e3
    for tokens in (5, 30, 128):
        c1 = sched.phase1_cycles([9] * tokens)
        all_layers = (c1 + sched.phase2_cycles(tokens, 11)) / (top * 1e3)
        for factor in (1.0, 1.001, 1.2, 2.0, 4.0):
            target = factor * all_layers
            for true_exit in range(2 + early, 13):
                pred = true_exit - early
                for policy in POLICIES:
                    f1 = phase1_clock(policy, clock, grid, sched, c1, tokens, 12, target)
                    used = c1 / (f1 * 1e3) + (f1 != top) * sw
                    d = phase2_plan(policy, clock, grid, sched, tokens, 12, pred, true_exit, used, target,
                                    current_mhz=f1)
                    stop = {"base": 12, "ee": true_exit}.get(policy, d.stop_layer)
                    ms = used + (d.mhz != f1) * sw + sched.phase2_cycles(tokens, stop - 1) / (d.mhz * 1e3)
                    assert not d.planned_miss and ms <= target + 1e-9, (policy, tokens, factor, true_exit)
                    if policy == "lai-slack" and f1 != top:          # the worst case still fits
                        assert used + sw + sched.phase2_cycles(tokens, 11) / (top * 1e3) <= target + 1e-9


# ---- backends and task switching -------------------------------------------------------------------
def test_task_switch_moves_only_the_task_and_matches_golden(tasks, tokenizer):
    be = CSimBackend("sim")
    sst2, mrpc = tasks["sst2"], tasks["mrpc"]
    moved = []
    for task, items in ((sst2, task_items("sst2", tokenizer, 4)), (mrpc, task_items("mrpc", tokenizer, 4)),
                        (sst2, task_items("sst2", tokenizer, 4))):
        moved.append(be.prepare(task))
        golden = GoldenModel(task)
        for it in items:
            e = it.encoded
            p1 = be.phase1(images.token_words(e.ids, e.token_types), task.threshold_q16)
            ref = golden.run(e.ids, e.token_types)
            if p1.exit_now:
                logits, layer = p1.logits, 1
            else:
                p2 = be.phase2(task.threshold_q16, 12)
                logits, layer = p2.logits, p2.exit_layer
            assert list(logits) == list(ref.logits) and layer == ref.exit_layer
    assert moved[0]["embedding_bytes"] > 0 and moved[1]["embedding_bytes"] == moved[2]["embedding_bytes"] == 0
    assert moved[1]["shared_bytes"] == moved[2]["shared_bytes"] == 0
    assert moved[1]["task_bytes"] == images.task_image(mrpc).nbytes
    assert moved[2]["task_bytes"] == images.task_image(sst2).nbytes
    assert be.prepare(sst2) == {"shared_bytes": 0, "embedding_bytes": 0, "task_bytes": 0}
    be.close()


# ---- the runner ----------------------------------------------------------------------------------
HEADER = {"task": "sst2", "policy": "lai", "target_ms": 6.0, "backend": "csim", "board": "sim"}


@pytest.mark.parametrize("policy,count", [("lai", 872), ("ee", 60), ("base", 30), ("oracle", 60), ("lai-slack", 60),
                                          ("lai-binned", 120)])
def test_run_matches_golden(policy, count, tasks, tokenizer, tmp_path):
    task = tasks["sst2"]
    items = task_items("sst2", tokenizer, count)
    with CSimBackend("sim") as be:
        summary = run(be, task, items, policy, 6.0, tmp_path / "run.jsonl", dict(HEADER, policy=policy),
                      progress=False)
    recs = [json.loads(l) for l in (tmp_path / "run.jsonl").read_text().splitlines()[1:]]
    assert summary["n"] == count == len(recs)
    golden = GoldenModel(task)
    thr = task.threshold_q16
    for it, r in zip(items, recs):
        e = it.encoded
        trace_logits, trace_ent = golden.trace(e.ids, e.token_types)
        below = np.flatnonzero(trace_ent < thr)
        true_exit = int(below[0]) + 1 if below.size else 12
        pred = r["predicted_exit_layer_binned" if policy == "lai-binned" else "predicted_exit_layer"]
        want_layer = {"base": 12, "ee": true_exit, "oracle": true_exit,
                      "lai": min(true_exit, max(pred, 2) if true_exit > 1 else 1)}[policy.split("-")[0]]
        if policy == "lai-binned":
            assert pred == golden.run(e.ids, e.token_types).predicted_binned
        assert r["exit_layer"] == want_layer and r["true_exit_layer"] == true_exit
        assert r["logits"] == [int(v) for v in trace_logits[want_layer - 1]]
        assert r["entropies"] == [round(int(h) / 65536, 6) for h in trace_ent[:want_layer]]
        assert r["prediction"] == int(np.argmax(trace_logits[want_layer - 1]))
        assert r["target_met"] == (r["latency_ms"] <= 6.0)
    assert summary["target_met_fraction"] == 1.0          # the default target is loose


def test_resume_after_a_kill_runs_every_sentence_once(tmp_path):
    out = tmp_path / "run.jsonl"
    cmd = [sys.executable, "-m", "edgebert.cli", "run", "--task", "sst2", "--policy", "lai", "--limit", "150",
           "--out", str(out), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or out.read_text().count("\n") < 40):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    lines = out.read_text().count("\n")
    assert 40 <= lines < 151, "the run was not interrupted part-way"
    with open(out, "a") as f:
        f.write('{"id": "sst2-dev-999", "tokens"')        # a record cut short by the kill
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    ids = [json.loads(l)["id"] for l in out.read_text().splitlines()[1:]]
    assert sorted(ids) == sorted(f"sst2-dev-{i}" for i in range(150)) and summary["n"] == 150


def test_a_log_of_other_settings_is_refused(tmp_path):
    out = tmp_path / "run.jsonl"
    _, log = open_log(out, HEADER)
    log.close()
    with pytest.raises(RunLogError, match="other settings"):
        open_log(out, dict(HEADER, policy="ee"))
    (tmp_path / "junk.jsonl").write_text("hello\n")
    with pytest.raises(RunLogError, match="not an edgebert run log"):
        open_log(tmp_path / "junk.jsonl", HEADER)


def test_raw_text_input_and_its_bad_lines(tokenizer, tmp_path):
    raw = b"a gorgeous, witty film\n\n   \nbad \xff\xfe bytes\n" + b"long " * 300 + b"\n"
    items = text_items(raw, tokenizer, pair=False)
    assert [it.id for it in items] == ["line-1", "line-2", "line-3", "line-4", "line-5"]
    assert (items[1].skipped, items[2].skipped) == ("empty line", "blank line (white space only)")
    assert items[3].error and "not UTF-8" in items[3].error
    assert items[4].encoded.truncated_from == 302 and len(items[4].encoded.ids) == 128
    pair = text_items(b"only one sentence\n", tokenizer, pair=True)
    assert "tab" in pair[0].error
    out = tmp_path / "text.jsonl"
    r = CliRunner().invoke(main, ["run", "--task", "sst2", "--input", "-", "--policy", "lai-slack", "--out", str(out),
                                  "--json"], input=raw)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert summary["n"] == 2 and summary["errors"] == 1 and summary["accuracy"] is None
    assert summary["skipped"] == 2 and summary["lines"] == 5


def test_every_input_line_gets_a_record_and_a_count(tmp_path):
    raw = b"\n  \t \nthe film works\n" + b"word " * 5000 + b"\nbad \xff bytes\nlovely \xf0\x9f\x8e\xac film\n"
    out = tmp_path / "six.jsonl"
    r = CliRunner().invoke(main, ["run", "--task", "sst2", "--input", "-", "--policy", "ee", "--out", str(out),
                                  "--json"], input=raw)
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert [rec["id"] for rec in records] == [f"line-{n}" for n in range(1, 7)]
    assert [rec.get("skipped") for rec in records[:2]] == ["empty line", "blank line (white space only)"]
    assert "not UTF-8" in records[4]["error"] and records[3]["truncated_from"] > 128
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert (summary["lines"], summary["n"], summary["errors"], summary["skipped"]) == (6, 3, 1, 2)
    assert summary["skipped_reasons"] == {"blank line (white space only)": 1, "empty line": 1}
    again = CliRunner().invoke(main, ["run", "--task", "sst2", "--input", "-", "--policy", "ee", "--out", str(out),
                                      "--json"], input=raw)                       # resumed: nothing twice
    timing = {"loop_s", "end_to_end_mean_ms", "end_to_end_p99_ms", "queue_mean_ms"}
    resumed = json.loads(again.output.strip().splitlines()[-1])
    assert len(out.read_text().splitlines()) == 7
    assert {k: v for k, v in resumed.items() if k not in timing} == {k: v for k, v in summary.items() if k not in timing}


@pytest.mark.parametrize("args,message", [
    (["--board", "zedboard"], "known boards"),
    (["--task", "qqp"], "known tasks"),
    (["--latency-target-ms", "0"], "latency target"),
    (["--latency-target-ms", "-3"], "latency target"),
    (["--input", "/nonexistent/file.txt"], "no such file"),
])
def test_bad_run_arguments_are_named(args, message, tmp_path):
    base = {"--task": "sst2", "--out": str(tmp_path / "x.jsonl")}
    argv = ["run"]
    for k, v in base.items():
        if k not in args:
            argv += [k, v]
    r = CliRunner().invoke(main, argv + args)
    assert r.exit_code != 0 and message in r.output


# ---- power sources ---------------------------------------------------------------------------------
def test_power_sources(tmp_path):
    from edgebert.runtime.power import CsvMeterPower, HwmonPower, NoPower, PowerError, measure_window, power_source
    hw = tmp_path / "hwmon" / "hwmon3"
    hw.mkdir(parents=True)
    (hw / "name").write_text("ina260\n")
    (hw / "power1_input").write_text("4250000\n")            # microwatts
    assert HwmonPower(tmp_path / "hwmon").sample() == pytest.approx(4.25)
    with pytest.raises(PowerError, match="ina260"):
        HwmonPower(tmp_path / "nothing")
    meter = tmp_path / "meter.csv"
    meter.write_text("time,watts\n10.0,2.0\n11.0,4.0\n12.0,9.0\n13.0,")
    src = CsvMeterPower(meter)
    assert src.window(9.5, 11.5) == pytest.approx(3.0) and src.window(20, 30) is None
    watts, seconds = measure_window(HwmonPower(tmp_path / "hwmon"), lambda: time.sleep(0.12), 0.02)
    assert watts == pytest.approx(4.25) and seconds >= 0.12
    assert isinstance(power_source(get_board("sim")), NoPower)
    assert isinstance(power_source(get_board("pynq-z2"), str(meter)), CsvMeterPower)
