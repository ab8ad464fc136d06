"""The pipelined run: the host stages of the next sentences overlap the accelerator's work on
the current one (Pipe-it's setting on a Zynq: application cores and the PL are different
processing elements).

    feeder thread   tokenize (inline, or in `tokenize_workers` worker processes) -> pack
    device thread   accel: phase 1, the DVFS decision, phase 2 (one sentence at a time)
    calling thread  record -> log (in input order)

Queues between the threads are bounded (`depth`); the packed token words sit in the backend's
staging slots (allocated once, reused: double-buffered DMA buffers on a board), so packing the
next sentence never overwrites the one the device reads. The device stays one sentence at a
time, in input order, so per-sentence DVFS, cycles and latency accounting are those of the
serial run; records gain the host figures (stage times, queueing delay, end-to-end latency).
The log is the serial run's: append-only, flushed per sentence, resumable.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edgebert.accel import images
from edgebert.accel.builds import schedule_for
from edgebert.core.errors import DeviceError, InputError
from edgebert.runtime import stage_model
from edgebert.runtime.backend import Backend
from edgebert.runtime.inputs import Item, item_record, max_tokens, tokenize
from edgebert.runtime.runner import SentenceRunner, StageTimer, open_log, run_tokenizer, summarize, write_record

_END = object()
_POLL_S = 0.05
# A thread waiting for the interpreter lock gets it after at most this long (Python's default,
# 5 ms, would let a host stage hold the device thread back for 5 ms after its phase ends).
SWITCH_INTERVAL_S = 1e-4


@dataclass(frozen=True)
class Mapping:
    """Where the host stages run: `tokenize_workers` worker processes for the tokenizer (0: in
    the feeder thread) and the depth of the queues between stages."""
    tokenize_workers: int = 0
    depth: int = 4

    def __post_init__(self):
        if self.tokenize_workers < 0 or self.depth < 1:
            raise ValueError(f"a pipeline needs tokenize_workers >= 0 and depth >= 1, got {self}")

    def describe(self) -> str:
        where = (f"{self.tokenize_workers} worker process(es)" if self.tokenize_workers
                 else "the feeder thread")
        return (f"tokenize in {where}; pack in the feeder thread; accel in the device thread; "
                f"record + log in the calling thread; queues {self.depth} deep")


class _Failed:
    """An exception raised in a pipeline thread, handed downstream in order."""

    def __init__(self, exc: BaseException):
        self.exc = exc


def _put(q: queue.Queue, x, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(x, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event):
    while not stop.is_set():
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            continue
    return _END


# Worker processes tokenize with a tokenizer of their own (made once per process).
_worker_tokenizer = None


def _init_worker(max_len: int) -> None:
    global _worker_tokenizer
    from edgebert.core.tokenization import Tokenizer
    _worker_tokenizer = Tokenizer(max_len)


def _tokenize_in_worker(item: Item) -> tuple[Item, float]:
    t0 = time.perf_counter()
    out = tokenize(item, _worker_tokenizer)
    return out, (time.perf_counter() - t0) * 1e3


def tokenizer_pool(workers: int, max_len: int) -> ProcessPoolExecutor:
    """Worker processes for the tokenize stage, started (spawned, not forked: the run has
    threads) and warmed before the run's clock starts."""
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(max_len,))
    for f in [pool.submit(os.getpid) for _ in range(workers)]:
        f.result()
    return pool


def handover_ms(items: list[Item], max_len: int, n: int = 200) -> float:
    """The main process's CPU time (ms a sentence) to hand sentences to a tokenizer worker and
    take them back, pickling included (the executor's own thread does part of it): what a
    worker process costs the interpreter lock."""
    items = items[:n]
    if not items:
        return 0.0
    with tokenizer_pool(1, max_len) as pool:
        t0 = time.process_time()
        for fut in [pool.submit(_tokenize_in_worker, item) for item in items]:
            fut.result()
        return (time.process_time() - t0) * 1e3 / len(items)


class _Feeder(threading.Thread):
    """tokenize -> pack, in input order, never more than the staging slots ahead of the device."""

    def __init__(self, runner: SentenceRunner, todo: list[Item], tokenizer, pool, slots: queue.Queue,
                 out: queue.Queue, stop: threading.Event, depth: int):
        super().__init__(name="edgebert-feeder", daemon=True)
        self.runner, self.todo, self.tokenizer, self.pool = runner, todo, tokenizer, pool
        self.slots, self.out, self.stop, self.depth = slots, out, stop, depth

    def _tokenized(self):
        """(item, its timer) in input order; with a pool, up to `depth` sentences in flight."""
        if self.pool is None:
            for item in self.todo:
                timer = StageTimer()
                yield timer("tokenize", tokenize, item, self.tokenizer), timer
            return
        window: list[tuple[Future, StageTimer]] = []
        items = iter(self.todo)
        for item in items:
            window.append((self.pool.submit(_tokenize_in_worker, item), StageTimer()))
            if len(window) >= self.depth:
                break
        while window:
            fut, timer = window.pop(0)
            item, ms = fut.result()
            timer.ms["tokenize"] = ms          # the worker's own time; the hand-over is queueing
            nxt = next(items, None)
            if nxt is not None:
                window.append((self.pool.submit(_tokenize_in_worker, nxt), StageTimer()))
            yield item, timer

    def run(self):
        try:
            for item, timer in self._tokenized():
                if item_record(item) is not None:
                    packed = None
                else:
                    slot = _get(self.slots, self.stop)
                    if slot is _END:
                        return
                    packed = timer("pack", self.runner.pack, item, slot)
                if not _put(self.out, (item, packed, timer), self.stop):
                    return
            _put(self.out, _END, self.stop)
        except BaseException as e:                # handed on: the log keeps what came before
            _put(self.out, _Failed(e), self.stop)


class _Device(threading.Thread):
    """accel, one sentence at a time; frees each staging slot when its sentence is done."""

    def __init__(self, runner: SentenceRunner, slots: queue.Queue, inq: queue.Queue, out: queue.Queue,
                 stop: threading.Event):
        super().__init__(name="edgebert-device", daemon=True)
        self.runner, self.slots, self.inq, self.out, self.stop = runner, slots, inq, out, stop

    def run(self):
        try:
            while True:
                x = _get(self.inq, self.stop)
                if x is _END or isinstance(x, _Failed):
                    _put(self.out, x, self.stop)
                    return
                item, packed, timer = x
                outcome = None
                if packed is not None:
                    outcome = timer("accel", self.runner.accelerate, packed)
                    self.slots.put(packed.slot)
                if not _put(self.out, (item, outcome, timer), self.stop):
                    return
        except BaseException as e:
            _put(self.out, _Failed(e), self.stop)


def run_pipelined(backend: Backend, task, items: list[Item], policy: str, target_ms: float, out: Path,
                  header: dict, mapping: Mapping = Mapping(), progress: bool = True,
                  stage_log: list | None = None) -> dict:
    """The pipelined run of `items`: the same log, records and summary as `runner.run`, with
    the host stages overlapping the device. `stage_log` receives each sentence's stage times."""
    records, log = open_log(out, header)
    done = {r["id"] for r in records}
    todo = [it for it in items if it.id not in done]
    runner = SentenceRunner(backend, task, policy, target_ms)
    tokenizer = run_tokenizer(task, backend, items)
    pool = (tokenizer_pool(mapping.tokenize_workers, max_tokens(task, backend.board.name))
            if mapping.tokenize_workers and tokenizer is not None else None)
    backend.prepare(task)
    slots: queue.Queue = queue.Queue()
    for s in range(backend.staging_slots):
        slots.put(s)
    packed_q: queue.Queue = queue.Queue(maxsize=mapping.depth)
    done_q: queue.Queue = queue.Queue(maxsize=mapping.depth)
    stop = threading.Event()
    threads = [_Feeder(runner, todo, tokenizer, pool, slots, packed_q, stop, mapping.depth),
               _Device(runner, slots, packed_q, done_q, stop)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    t0 = time.perf_counter()
    try:
        for t in threads:
            t.start()
        bar = tqdm(total=len(items), initial=len(items) - len(todo), unit="sentence", disable=not progress,
                   desc=f"{policy} on {backend.name}, pipelined")
        with bar:
            while (x := _get(done_q, stop)) is not _END:
                if isinstance(x, _Failed):
                    raise x.exc
                item, outcome, timer = x
                rec = item_record(item) or timer.stamp(timer("record", runner.record, item, outcome))
                if stage_log is not None:
                    stage_log.append(timer.ms)
                write_record(log, rec, stage_log)
                records.append(rec)
                bar.update()
        os.fsync(log.fileno())
    except DeviceError as e:
        e.args = (f"{e} (the log {out} keeps every finished sentence; rerun to resume)",)
        raise
    finally:
        stop.set()
        sys.setswitchinterval(interval)
        for t in threads:
            t.join(timeout=10)
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        log.close()
    return {**summarize(records, header), "loop_s": time.perf_counter() - t0}


PLAN_SAMPLE = 64


def plan(task, backend: Backend, items: list[Item], policy: str, target_ms: float,
         cores: int | None = None) -> tuple[Mapping, dict]:
    """The mapping `--pipeline auto` runs with: the balancing over this machine's stage model
    (`stage_model.load`) and the first sentences' descriptors, at the worst case of exit
    layer (docs/host.md). The device's time is the cycle model's at the board's top clock, or
    the C-simulation's measured speed for the C-simulation."""
    model = stage_model.load()
    sched = schedule_for(task, backend.board.name, backend.board.array_n).warm()
    if backend.name == "csim":
        if model.csim_ms_per_mcycle is None:
            raise InputError(f"the stage model of {model.machine} has no C-simulation speed; "
                             "run `edgebert bench host --pipeline --calibrate`")
        per_cycle = model.csim_ms_per_mcycle / 1e6
    else:
        per_cycle = 1.0 / (backend.board.top_clock * 1e3)
    tokenizer = run_tokenizer(task, backend, items)
    sample = [tokenize(it, tokenizer) if tokenizer else it for it in items[:PLAN_SAMPLE]]
    sample = [it for it in sample if it.encoded is not None]
    if not sample:
        return Mapping(), {"mapping": vars(Mapping()), "note": "no sentence to plan with: the default mapping"}
    words = lambda enc: images.embedding_record_words(task.word_table, np.array(enc.ids)).tolist()
    descs = stage_model.planning_descriptors(sched, task.cfg.layers, [it.encoded for it in sample], words,
                                             [len(it.text) for it in sample], policy, per_cycle)
    result = stage_model.balance(model, descs, cores or os.cpu_count() or 1, target_ms, backend.staging_slots)
    return Mapping(**result["mapping"]), result
