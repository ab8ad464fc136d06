"""The pipelined runner, the timing-faithful device, the per-stage predictor and the balancing."""
import json
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from edgebert.accel import images
from edgebert.cli import main
from edgebert.core.errors import DeviceError, InputError
from edgebert.core.tokenization import Tokenizer
from edgebert.runtime import stage_model
from edgebert.runtime.boards import get_board
from edgebert.runtime.inputs import task_items, text_items
from edgebert.runtime.pipeline import Mapping, plan, run_pipelined
from edgebert.runtime.runner import run
from edgebert.sim.backend import CSimBackend
from edgebert.sim.pipeline_bench import same_results
from edgebert.sim.timed import TimedDevice

HEADER = {"task": "sst2", "policy": "lai", "target_ms": 6.0, "backend": "csim", "board": "sim"}


@pytest.fixture(scope="module")
def task(artifact):
    return artifact["sst2"]


@pytest.fixture(scope="module")
def serial_log(task, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "serial.jsonl"
    with CSimBackend("sim") as be:
        run(be, task, task_items("sst2", Tokenizer(128), 24), "lai", 6.0, out, HEADER, progress=False)
    return _records(out)


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


class FailingAt(CSimBackend):
    """The C-simulation, failing at its k-th phase 1 (a device fault in mid-run)."""

    def __init__(self, k):
        super().__init__("sim")
        self.k, self.calls = k, 0

    def phase1(self, tokens, threshold):
        self.calls += 1
        if self.calls == self.k:
            raise DeviceError("injected fault")
        return super().phase1(tokens, threshold)


@pytest.mark.parametrize("mapping", [Mapping(0, 1), Mapping(0, 4), Mapping(1, 2)])
def test_pipelined_run_equals_serial_and_resumes_every_sentence_once(mapping, task, serial_log, tmp_path):
    items = task_items("sst2", Tokenizer(128), 24, defer=True)
    out = tmp_path / "piped.jsonl"
    interval = sys.getswitchinterval()
    with FailingAt(11) as be, pytest.raises(DeviceError, match="rerun to resume"):
        run_pipelined(be, task, items, "lai", 6.0, out, HEADER, mapping, progress=False)
    assert sys.getswitchinterval() == interval            # the run's prompt hand-over ends with it
    partial = _records(out)
    assert [r["id"] for r in partial] == [r["id"] for r in serial_log[:len(partial)]]
    assert len(partial) <= 10                          # nothing after the fault was logged
    with CSimBackend("sim") as be:
        summary = run_pipelined(be, task, items, "lai", 6.0, out, HEADER, mapping, progress=False)
    piped = _records(out)
    assert [r["id"] for r in piped] == [r["id"] for r in serial_log]      # each exactly once, in order
    assert summary["n"] == 24
    for r in piped[len(partial):]:                     # what this run did: its host figures
        h = r["host"]
        assert set(h["stage_ms"]) == {"tokenize", "pack", "accel", "record", "energy"}
        assert h["end_to_end_ms"] >= sum(h["stage_ms"].values()) - 1e-3 and h["queue_ms"] >= 0
    # the resumed run put the clock back where the log left it: the same switches as serial
    assert same_results(piped, serial_log)
    assert [r["clock_switches"] for r in piped] == [r["clock_switches"] for r in serial_log]


def test_energy_stage_is_the_reports_projection(task, serial_log):
    from edgebert.accel.asic12nm import EnergyParams
    from edgebert.accel.builds import schedule_for
    from edgebert.accel.energy import asic_deadline_ms, project
    p = EnergyParams.load()
    sched = schedule_for(task, "sim", get_board("sim").array_n)
    deadline = asic_deadline_ms(6.0, get_board("sim"), p)
    for r in serial_log:
        e = project(r, p, sched, deadline)
        assert r["energy_12nm"]["uj"] == pytest.approx(e["energy_uj"], abs=1e-6)
        assert r["energy_12nm"]["asic_ms"] == pytest.approx(e["asic_ms"], abs=1e-6)
    assert len({r["energy_12nm"]["uj"] for r in serial_log}) > 10          # one per sentence


def test_same_results_notices_a_different_record(serial_log):
    other = [dict(r) for r in serial_log]
    other[3] = {**other[3], "exit_layer": other[3]["exit_layer"] + 1}
    assert same_results(serial_log, serial_log) and not same_results(serial_log, other)


def test_every_input_line_is_logged_pipelined_as_serial(task, tmp_path):
    raw = (b"\n   \na gorgeous, witty film\n" + b"word " * 5000 + b"\nbad \xff bytes\n"
           + "a film \U0001F600 to love\n".encode())
    tok = Tokenizer(128)
    logs = {}
    for name, runner in (("serial", run), ("piped", run_pipelined)):
        out = tmp_path / f"{name}.jsonl"
        with CSimBackend("sim") as be:
            summary = runner(be, task, text_items(raw, tok, pair=False, defer=True), "ee", 6.0, out,
                             {**HEADER, "policy": "ee"}, progress=False)
        logs[name] = _records(out)
        assert summary["lines"] == 6 and summary["n"] == 3 and summary["errors"] == 1 and summary["skipped"] == 2
    assert [r["id"] for r in logs["piped"]] == [r["id"] for r in logs["serial"]] == [f"line-{i}" for i in range(1, 7)]
    assert [r.get("skipped") or r.get("error", "")[:12] for r in logs["piped"][:2]] == \
           ["empty line", "blank line (white space only)"]
    assert "not UTF-8" in logs["piped"][4]["error"] and logs["piped"][3]["truncated_from"] > 5000


def test_timed_device_answers_as_the_csim_and_holds_for_the_board_time(task):
    board = get_board("pynq-z2")
    enc = Tokenizer(64).encode("an utterly charming and hilarious film", None)
    words = images.token_words(enc.ids, enc.token_types)
    with CSimBackend(board) as sim, TimedDevice(CSimBackend(board)) as dev:
        sim.prepare(task)
        dev.prepare(task)
        dev.set_clock(50.0)
        ref1, ref2 = sim.phase1(words, -1), sim.phase2(-1, 12)
        first = dev.phase1(words, -1)                  # computed: not held to the board's time
        assert dev.overruns >= 1 and dev.remembered() == 1
        for _ in range(2):
            t0 = time.perf_counter()
            p1 = dev.phase1(words, -1)
            held = time.perf_counter() - t0
            p2 = dev.phase2(-1, 12)                    # computed once, remembered after
            assert held >= p1.counters["cycles"] / 50e6
        assert dev.remembered() == 2
        assert (first.h1, list(first.logits), first.counters) == (ref1.h1, list(ref1.logits), ref1.counters)
        assert (p2.exit_layer, list(p2.logits), p2.counters) == (ref2.exit_layer, list(ref2.logits), ref2.counters)
        t0 = time.perf_counter()
        dev.set_clock(100.0)
        assert time.perf_counter() - t0 >= board.clock_switch_us * 1e-6


# ---- the stage model ------------------------------------------------------------------------
def _synthetic(n=400, seed=0):
    rng = np.random.default_rng(seed)
    descs, times = [], []
    for _ in range(n):
        d = {"chars": int(rng.integers(5, 300)), "tokens": int(rng.integers(2, 80)),
             "exit_layer": int(rng.integers(1, 13)), "switches": int(rng.integers(0, 3)),
             "device_ms": float(rng.uniform(0.2, 3.0))}
        d["phases"] = 1 + (d["exit_layer"] > 1)
        t = {"tokenize": 0.05 + 0.001 * d["chars"], "pack": 0.02 + 0.002 * d["tokens"],
             "accel_host": 0.1 + 0.05 * d["phases"] + 0.02 * d["switches"],
             "record": 0.08 + 0.004 * d["exit_layer"], "energy": 0.05 + 0.04 * d["phases"],
             "log": 0.03 + 0.002 * d["exit_layer"]}
        t = {k: v * rng.uniform(0.97, 1.03) for k, v in t.items()}
        if rng.random() < 0.03:                        # a scheduler pause
            t["tokenize"] += 5.0
        descs.append(d)
        times.append(t)
    return descs, times


def test_stage_model_fits_lines_and_compares_with_measurement(tmp_path):
    descs, times = _synthetic()
    model = stage_model.fit(descs, times, machine="test")
    assert model.coef["tokenize"] == pytest.approx([0.05, 0.001], rel=0.05, abs=2e-3)
    assert model.coef["accel_host"] == pytest.approx([0.1, 0.05, 0.02], rel=0.1, abs=5e-3)
    cmp = stage_model.compare(model, *_synthetic(seed=1))
    assert all(v["median_relative_error"] < 0.03 for v in cmp.values())
    assert cmp["device"]["median_relative_error"] == 0.0
    model.save(tmp_path / "m.json")
    assert stage_model.StageModel.from_dict(json.loads((tmp_path / "m.json").read_text())) == model
    slower = model.scaled("cortex-a9", 10.0, "assumed")
    assert slower.predict("log", descs[0]) == pytest.approx(10 * model.predict("log", descs[0]))
    with pytest.raises(InputError, match="calibrate"):
        stage_model.load("no-such-machine")


def test_balancing_finds_the_bottleneck_and_respects_the_latency_target():
    descs, times = _synthetic()
    model = stage_model.fit(descs, times, machine="test")
    host = sum(np.mean([model.predict(s, d) for d in descs]) for s in stage_model.HOST_STAGES)
    device_bound = [{**d, "device_ms": 4 * host} for d in descs]
    out = stage_model.balance(model, device_bound, cores=2)
    assert out["predicted"]["bottleneck"] == "device"
    assert out["predicted_speedup"] == pytest.approx(1 + (host - model.coef["accel_host"][0]) / (4 * host), rel=0.2)
    assert out["mapping"]["depth"] == 2                # more in flight buys nothing but latency
    # A tokenizer three times the rest, a cheap hand-over and four cores: workers take it.
    heavy = stage_model.StageModel("test", {**model.coef, "tokenize": [3 * host, 0.0]}, ipc_ms=0.01)
    out = stage_model.balance(heavy, [{**d, "device_ms": 0.1} for d in descs], cores=4)
    assert out["mapping"]["tokenize_workers"] == 3
    assert stage_model.balance(heavy, [{**d, "device_ms": 0.1} for d in descs], cores=1)["mapping"]["tokenize_workers"] == 0
    # An end-to-end target no mapping meets: the lowest-latency one, said to miss.
    tight = stage_model.balance(model, device_bound, cores=2, target_ms=1e-3)
    assert not tight["meets_target"]
    assert tight["predicted"]["end_to_end_ms"] == min(c["end_to_end_ms"] for c in tight["candidates"])


def test_run_pipeline_auto_plans_from_the_shipped_stage_model(task, tmp_path):
    items = task_items("sst2", Tokenizer(128), 8, defer=True)
    with CSimBackend("sim") as be:
        mapping, chosen = plan(task, be, items, "lai", 6.0, cores=2)
    assert isinstance(mapping, Mapping) and chosen["predicted"]["bottleneck"]
    out = tmp_path / "auto.jsonl"
    r = CliRunner().invoke(main, ["run", "--task", "sst2", "--policy", "lai", "--pipeline", "auto", "--limit", "6",
                                  "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert summary["n"] == 6 and summary["pipeline"]["mode"] == "auto" and "predicted bottleneck" in r.output
