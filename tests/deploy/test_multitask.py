"""Several tasks through one accelerator: the interleaving, what a task switch moves, results
equal to the single-task runs, a cut-short log resumed to the same log, and a summary whose
numbers add up."""
import json
import shutil

import numpy as np
import pytest

from edgebert.accel import images
from edgebert.analysis.multitask import multitask_markdown, multitask_summary
from edgebert.core.tokenization import Tokenizer
from edgebert.deploy.flow import LoadCountingBackend
from edgebert.runtime.boards import get_board
from edgebert.runtime.inputs import max_tokens, task_items
from edgebert.runtime.multitask import interleave, multitask_header, run_multitask
from edgebert.runtime.runner import run, run_header

LIMIT = 6
TARGET_MS = 6.0
# What a rerun cannot reproduce: host wall times.
WALL = ("wall_ms", "host_clock_switch_ms")


@pytest.fixture(scope="module")
def tasks(artifact):
    return {"sst2": artifact["sst2"], "mrpc": artifact["mrpc"]}


@pytest.fixture(scope="module")
def stream(tasks):
    board = get_board("sim")
    return interleave({t: task_items(t, Tokenizer(max_tokens(hw, board.name)), LIMIT) for t, hw in tasks.items()})


def _run(tasks, stream, out):
    board = get_board("sim")
    header = multitask_header(tasks, "lai", TARGET_MS, "csim", board, f"dev[:{LIMIT}]", "test", 1)
    with LoadCountingBackend(board) as backend:
        return run_multitask(backend, tasks, stream, "lai", TARGET_MS, out, header, progress=False)


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def _strip(rec):
    """A record without its host wall times."""
    out = {k: v for k, v in rec.items() if k not in WALL}
    for ph in ("phase1", "phase2"):
        if ph in out:
            out[ph] = {k: v for k, v in out[ph].items() if k not in WALL}
    return out


@pytest.fixture(scope="module")
def mt(tasks, stream, tmp_path_factory):
    out = tmp_path_factory.mktemp("multitask") / "multitask.jsonl"
    return out, _run(tasks, stream, out)


def test_interleave_alternates_and_lets_a_spent_task_drop_out():
    order = interleave({"a": [1, 2, 3, 4, 5], "b": [10, 20]})
    assert order == [("a", 1), ("b", 10), ("a", 2), ("b", 20), ("a", 3), ("a", 4), ("a", 5)]
    runs = interleave({"a": [1, 2, 3], "b": [10, 20, 30]}, run_length=2)
    assert [t for t, _ in runs] == ["a", "a", "b", "b", "a", "b"]
    with pytest.raises(ValueError):
        interleave({"a": [1]}, run_length=0)


def test_tasks_alternate_and_a_switch_moves_only_the_task_image(mt, tasks):
    out, summary = mt
    recs = _records(out)
    assert [r["task"] for r in recs] == ["sst2", "mrpc"] * LIMIT
    assert summary["task_switches"] == 2 * LIMIT - 1 and summary["n"] == 2 * LIMIT
    task_bytes = {t: images.task_image(hw).nbytes for t, hw in tasks.items()}
    first = recs[0]["load"]
    assert first["shared_bytes"] > 0 and first["embedding_bytes"] > 0 and first["task_bytes"] == task_bytes["sst2"]
    assert set(first["counters"]) == {"shared", "task"}
    for r in recs[1:]:
        load = r["load"]
        assert (load["shared_bytes"], load["embedding_bytes"]) == (0, 0)
        assert load["task_bytes"] == task_bytes[r["task"]]
        assert set(load["counters"]) == {"task"}
        # the load command reads the whole image from off-chip memory, a word a cycle or slower
        c = load["counters"]["task"]
        assert c["offchip_words"] * 4 == load["task_bytes"] and c["cycles"] >= c["offchip_words"]


def test_per_task_results_equal_the_single_task_runs(mt, tasks, stream, tmp_path):
    recs = {r["id"]: r for r in _records(mt[0])}
    board = get_board("sim")
    for t, hw in tasks.items():
        items = [it for task, it in stream if task == t]
        header = run_header(hw, "lai", TARGET_MS, "csim", board, f"dev[:{LIMIT}]", "test")
        with LoadCountingBackend(board) as backend:
            run(backend, hw, items, "lai", TARGET_MS, tmp_path / f"{t}.jsonl", header, progress=False)
        single = _records(tmp_path / f"{t}.jsonl")
        assert len(single) == LIMIT
        for s in single:
            m = recs[s["id"]]
            for key in ("exit_layer", "true_exit_layer", "predicted_exit_layer", "logits", "prediction", "entropies"):
                assert m[key] == s[key], (s["id"], key)
            assert m["phase1"]["counters"] == s["phase1"]["counters"]


@pytest.mark.parametrize("cut", [3, 4])
def test_a_cut_short_log_resumes_to_the_log_never_cut(mt, tasks, stream, tmp_path, cut):
    out = tmp_path / "multitask.jsonl"
    shutil.copy(mt[0], out)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:1 + cut]) + lines[1 + cut][:30])      # killed while writing a record
    summary = _run(tasks, stream, out)
    assert summary["restored_on_resume"]["task_bytes"] > 0            # the accelerator put back, unlogged
    recs = _records(out)
    assert [r["id"] for r in recs] == [it.id for _, it in stream]    # every sentence once, in order
    # the same loads, clock switches and results as the run never interrupted
    assert [_strip(r) for r in recs] == [_strip(r) for r in _records(mt[0])]
    assert summary["task_switches"] == mt[1]["task_switches"]


def test_the_summary_adds_up(mt, tasks):
    m = multitask_summary(mt[0], tasks)
    recs = _records(mt[0])
    assert m["n"] == sum(s["n"] for s in m["tasks"].values()) == len(recs) == 2 * LIMIT
    assert m["switches"] == 2 * LIMIT - 1 == sum(x["count"] for x in m["per_switch"].values())
    assert m["switch_shared_bytes"] == m["switch_embedding_bytes"] == 0
    e = m["energy_uj"]
    assert e["total"] == pytest.approx(e["sentences"] + e["initial_load"] + e["switches"])
    assert e["sentences"] == pytest.approx(sum(s["energy_uj_total"] for s in m["tasks"].values()))
    assert e["switches"] == pytest.approx(sum(x["energy_uj"] * x["count"] for x in m["per_switch"].values()))
    assert m["switch_share"] == pytest.approx(e["switches"] / e["total"]) and 0 < m["switch_share"] < 1
    for t, s in m["tasks"].items():
        mine = [r for r in recs if r["task"] == t]
        assert s["energy_uj"] * s["n"] == pytest.approx(s["energy_uj_total"])
        assert s["accuracy"] == pytest.approx(np.mean([r["correct"] for r in mine]))
        assert s["avg_exit_layer"] == pytest.approx(np.mean([r["exit_layer"] for r in mine]))
        x = m["per_switch"][t]
        assert x["bytes"] == images.task_image(tasks[t]).nbytes and x["words"] * 4 == x["bytes"]
        assert x["energy_uj"] == pytest.approx(sum(x["energy_parts_uj"].values()))
    assert "f1" in m["tasks"]["mrpc"] and "f1" not in m["tasks"]["sst2"]
    assert m["switch_share_by_run_length"]["1"]["switches"] == m["switches"]
    assert m["switch_share_by_run_length"]["8"]["switches"] == 1                 # 6 + 6 sentences
    text = multitask_markdown(m)
    assert "| task switch to mrpc | 6 |" in text and "| task switch to sst2 | 5 |" in text
