"""Several tasks through one accelerator: sentences of different tasks interleaved, the task
switched at run time (EdgeBERT's point: one bitstream, many tasks; a switch moves only the
task image, the shared tables and the embedding table stay).

The log is the runner's (`open_log`): a header, then one record per sentence, append-only.
A record is the single-task runner's record plus `task` and, when the sentence needed a load
first, `load`: the bytes `Backend.prepare` moved and the load commands' counters (when the
backend keeps them in `load_counters`). A rerun skips the ids already logged. It first puts the
accelerator back as the log left it (the last task loaded, the last clock set), unlogged, so
the resumed log holds the same loads and clock switches as one never interrupted.
"""
from __future__ import annotations

from pathlib import Path

from edgebert.runtime.backend import Backend
from edgebert.runtime.inputs import Item, is_sentence, item_record
from edgebert.runtime.runner import SentenceRunner, append_records, open_log, restore_clock, summarize

INTERLEAVE = "{k} sentence(s) of each task in turn, in the header's task order; a task that runs out drops out"


def interleave(streams: dict[str, list[Item]], run_length: int = 1) -> list[tuple[str, Item]]:
    """The fixed order a multi-task run streams its sentences in: `run_length` sentences of each
    task in turn (1 alternates, the most switches), until every task's list is spent."""
    if run_length < 1:
        raise ValueError(f"the run length must be >= 1, got {run_length}")
    pos = dict.fromkeys(streams, 0)
    order: list[tuple[str, Item]] = []
    while any(pos[t] < len(items) for t, items in streams.items()):
        for t, items in streams.items():
            order += [(t, it) for it in items[pos[t]: pos[t] + run_length]]
            pos[t] += run_length
    return order


def multitask_header(tasks: dict, policy: str, target_ms: float, backend: str, board, source: str,
                     artifact_sha256: str, run_length: int) -> dict:
    """The settings of a multi-task log (the single-task header with every task's threshold)."""
    return {"tasks": list(tasks), "interleave": INTERLEAVE.format(k=run_length), "run_length": run_length,
            "policy": policy, "target_ms": target_ms, "backend": backend, "board": board.name,
            "threshold_q16": {t: hw.threshold_q16 for t, hw in tasks.items()}, "input": source,
            "array_n": board.array_n, "artifact_sha256": artifact_sha256}


def _load(backend: Backend, hw) -> dict:
    """Make `hw` the loaded task; what moved, with the load commands' counters if kept."""
    kept = getattr(backend, "load_counters", None)
    if kept is not None:
        kept.clear()
    moved = backend.prepare(hw)
    return {**moved, "counters": dict(kept)} if kept is not None else moved


def run_multitask(backend: Backend, tasks: dict, stream: list[tuple[str, Item]], policy: str, target_ms: float,
                  out: Path, header: dict, progress: bool = True) -> dict:
    """Run the interleaved `stream` of (task name, sentence) under one policy on one backend,
    switching task where the stream does. Returns each task's summary and the loads."""
    records, log = open_log(out, header)
    done = {r["id"] for r in records}
    runners = {t: SentenceRunner(backend, hw, policy, target_ms) for t, hw in tasks.items()}
    restored = None
    last = next((r for r in reversed(records) if is_sentence(r)), None)
    if last is not None:                         # resumed: the accelerator as the log left it
        restored = _load(backend, tasks[last["task"]])
        restore_clock(backend, records)
    todo = [(t, it) for t, it in stream if it.id not in done]

    def record(pair: tuple[str, Item]) -> dict:
        t, item = pair
        early = item_record(item)
        if early is not None:
            return {"task": t, **early}
        load = _load(backend, tasks[t])
        rec = {"task": t, **runners[t].run(item)}
        if any(load[k] for k in ("shared_bytes", "embedding_bytes", "task_bytes")):
            rec["load"] = load
        return rec
    append_records(out, log, records, todo, record, desc=f"{policy}, {'+'.join(tasks)} on {backend.name}",
                   disable=not progress, initial=len(stream) - len(todo), total=len(stream))
    return summarize_multitask(records, header, restored)


def summarize_multitask(records: list[dict], header: dict, restored: dict | None = None) -> dict:
    """Each task's run summary, the number of task switches and of loads (board-side figures;
    the 12 nm projection is edgebert.analysis.multitask)."""
    per_task = {t: summarize([r for r in records if r.get("task") == t], {**header, "task": t})
                for t in header["tasks"]}
    loads = [r["load"] for r in records if "load" in r]
    return {"policy": header.get("policy"), "tasks": per_task, "n": sum(s["n"] for s in per_task.values()),
            "loads": len(loads), "task_switches": sum(bool(x["task_bytes"]) for x in loads[1:]),
            "restored_on_resume": restored}
