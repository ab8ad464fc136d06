"""The pipelined run: the host stages of the next sentences overlap the accelerator's work on
the current one (Pipe-it's setting on a Zynq: application cores and the PL are different
processing elements).

    device thread   accel: phase 1, the DVFS decision, phase 2 (one sentence at a time)
    calling thread  tokenize -> pack for the sentences ahead; record -> energy -> log for the
                    finished ones, in input order
    worker processes (optional) tokenize, `tokenize_workers` of them

Python threads share one interpreter lock, so the host stages run in one thread (more threads
would only add hand-overs); the device thread waits for the PL (or the timing-faithful device)
without the lock. At most `depth` sentences are in flight, and packed token words sit in the
backend's staging slots (allocated once, reused: double-buffered DMA buffers on a board), so
packing the next sentence never overwrites the one the device reads. The device stays one
sentence at a time, in input order, so per-sentence DVFS, cycles and latency accounting are
those of the serial run; records gain the host figures (stage times, queueing delay,
end-to-end latency). The log is the serial run's: append-only, flushed per sentence, resumable.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
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
from edgebert.runtime.runner import (
    SentenceRunner,
    StageTimer,
    open_log,
    restore_clock,
    run_tokenizer,
    summarize,
    write_record,
)

_END = object()


@dataclass(frozen=True)
class Mapping:
    """Where the host stages run: `tokenize_workers` worker processes for the tokenizer (0: in
    the calling thread), and `depth`, the sentences in flight at most."""
    tokenize_workers: int = 0
    depth: int = 2

    def __post_init__(self):
        if self.tokenize_workers < 0 or self.depth < 1:
            raise ValueError(f"a pipeline needs tokenize_workers >= 0 and depth >= 1, got {self}")

    def describe(self) -> str:
        where = (f"{self.tokenize_workers} worker process(es)" if self.tokenize_workers
                 else "the calling thread")
        return (f"tokenize in {where}; pack, record, energy and log in the calling thread; accel in the "
                f"device thread; at most {self.depth} sentences in flight")


class _Failed:
    """An exception raised in a pipeline thread, handed downstream in order."""

    def __init__(self, exc: BaseException):
        self.exc = exc


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


# The interpreter's switch interval while a pipelined run lasts. The device thread wakes from
# each phase (a sleep on the timing-faithful device, an `ap_done` poll on a board) needing the
# interpreter lock, which the calling thread, busy with other sentences' host stages, otherwise
# gives up only after the default 5 ms. Measured here on SST-2 dev: the device's time per
# sentence grew by a median 0.35 ms in the pipelined run at 5 ms, 0.14 ms at 50 us.
SWITCH_INTERVAL_S = 5e-5


@contextmanager
def prompt_handover(seconds: float = SWITCH_INTERVAL_S):
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class _Device(threading.Thread):
    """accel, one sentence at a time, in the order given; frees each staging slot as soon as its
    sentence is done. A failure is handed on in order and ends the thread."""

    def __init__(self, runner: SentenceRunner, slots: queue.Queue, inq: queue.Queue, out: queue.Queue):
        super().__init__(name="edgebert-device", daemon=True)
        self.runner, self.slots, self.inq, self.out = runner, slots, inq, out

    def run(self):
        while (x := self.inq.get()) is not _END:
            item, packed, timer = x
            try:
                outcome = None
                if packed is not None:
                    outcome = timer("accel", self.runner.accelerate, packed)
                    self.slots.put(packed.slot)
            except BaseException as e:            # handed on: the log keeps what came before
                self.out.put(_Failed(e))
                return
            self.out.put((item, outcome, timer))


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
    restore_clock(backend, records)
    slots: queue.Queue = queue.Queue()
    for s in range(backend.staging_slots):
        slots.put(s)
    to_device: queue.Queue = queue.Queue()
    from_device: queue.Queue = queue.Queue()
    device = _Device(runner, slots, to_device, from_device)
    ahead = _Ahead(todo, tokenizer, pool, mapping.depth)
    t0 = time.perf_counter()
    try:
        device.start()
        bar = tqdm(total=len(items), initial=len(items) - len(todo), unit="sentence", disable=not progress,
                   desc=f"{policy} on {backend.name}, pipelined")
        in_flight = 0
        with bar, prompt_handover():
            while True:
                # Feed the device first (it must not starve), then finish what it has done.
                while in_flight < mapping.depth and ahead.more() and (ahead.ready_error() or not slots.empty()):
                    item, timer = ahead.next()
                    packed = None if item_record(item) is not None else timer("pack", runner.pack, item, slots.get())
                    to_device.put((item, packed, timer))
                    in_flight += 1
                if not in_flight:
                    break
                x = from_device.get()
                if isinstance(x, _Failed):
                    raise x.exc
                in_flight -= 1
                records.append(_finish(runner, log, x, stage_log))
                bar.update()
        os.fsync(log.fileno())
    except DeviceError as e:
        e.args = (f"{e} (the log {out} keeps every finished sentence; rerun to resume)",)
        raise
    finally:
        to_device.put(_END)
        device.join(timeout=10)
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        log.close()
    return {**summarize(records, header), "loop_s": time.perf_counter() - t0}


def _finish(runner: SentenceRunner, log, x, stage_log: list | None) -> dict:
    """record -> energy -> log of a sentence the device has done (or of an item that did not run)."""
    item, outcome, timer = x
    rec = item_record(item)
    if rec is None:
        rec = timer.stamp(timer("energy", runner.energy, timer("record", runner.record, item, outcome)))
    if stage_log is not None:
        stage_log.append(timer.ms)
    write_record(log, rec, stage_log)
    return rec


class _Ahead:
    """The sentences ahead of the device, tokenized in input order: inline, or by worker
    processes with up to `depth` sentences submitted ahead."""

    def __init__(self, todo: list[Item], tokenizer, pool, depth: int):
        self.todo, self.tokenizer, self.pool, self.depth = todo, tokenizer, pool, depth
        self.pos = 0
        self.window: list[tuple[Future, StageTimer]] = []
        self._peeked: tuple[Item, StageTimer] | None = None

    def more(self) -> bool:
        return self._peeked is not None or bool(self.window) or self.pos < len(self.todo)

    def _submit(self) -> None:
        while self.pool is not None and len(self.window) < self.depth and self.pos < len(self.todo):
            self.window.append((self.pool.submit(_tokenize_in_worker, self.todo[self.pos]), StageTimer()))
            self.pos += 1

    def _take(self) -> tuple[Item, StageTimer]:
        if self.pool is None:
            timer = StageTimer()
            item = timer("tokenize", tokenize, self.todo[self.pos], self.tokenizer)
            self.pos += 1
            return item, timer
        self._submit()
        fut, timer = self.window.pop(0)
        item, ms = fut.result()
        timer.ms["tokenize"] = ms              # the worker's own time; the hand-over is queueing
        self._submit()
        return item, timer

    def ready_error(self) -> bool:
        """The next item does not run (it needs no staging slot)."""
        if self._peeked is None:
            self._peeked = self._take()
        return item_record(self._peeked[0]) is not None

    def next(self) -> tuple[Item, StageTimer]:
        if self._peeked is None:
            self._peeked = self._take()
        out, self._peeked = self._peeked, None
        return out


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
    result = stage_model.balance(model, descs, cores or os.cpu_count() or 1, target_ms)
    return Mapping(**result["mapping"]), result
