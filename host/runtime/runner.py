"""Stream sentences through a backend under a DVFS policy and log one JSON line per sentence.

The log is append-only: a header line fixes the run's settings, then one record per sentence.
A rerun with the same `--out` skips the ids already logged (no loss, no duplicates); a record
cut short by a kill is dropped and redone; a log written with other settings is refused.
Records hold everything the energy model and the reports need: cycles, clock, counters and
wall time per phase, exit layers, entropies, prediction and label.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edgebert.accel import images
from edgebert.accel.asic12nm import EnergyParams, VfGrid, load_grid
from edgebert.accel.builds import schedule_for
from edgebert.accel.energy import asic_deadline_ms, project
from edgebert.accel.interface import PhaseResult
from edgebert.accel.numerics.functions import ENTROPY_FRAC
from edgebert.core.errors import DeviceError, InputError
from edgebert.runtime.backend import Backend
from edgebert.runtime.inputs import Item, is_sentence, item_record, max_tokens, tokenize
from edgebert.runtime.policy import Decision, check_policy, phase1_clock, phase2_plan, predicted_for, vf_point

LOG_FORMAT = "edgebert-run-v1"
MAX_TARGET_MS = 60_000


class RunLogError(InputError):
    """The output log belongs to another run or is not a run log."""


# ---- the log ------------------------------------------------------------------------------------
def log_header(lines: list[str]) -> dict | None:
    """The header of a run log's lines, or None when they are not an edgebert run log."""
    try:
        head = json.loads(lines[0]) if lines else {}
    except json.JSONDecodeError:
        return None
    return head if isinstance(head, dict) and head.get("format") == LOG_FORMAT else None


def latency_target(board, target_ms: float | None = None) -> float:
    """The per-sentence latency target of a run: `target_ms`, or the board's default."""
    target = board.default_target_ms if target_ms is None else float(target_ms)
    if not 0 < target <= MAX_TARGET_MS:
        raise InputError(f"the latency target must be in (0, {MAX_TARGET_MS}] ms, got {target:g}")
    return target


def run_header(hw, policy: str, target_ms: float, backend: str, board, source: str,
               artifact_sha256: str) -> dict:
    """The settings a run log is written under; a resumed run must match them. The artifact's
    checksum lets a report find the very artifact the run used."""
    return {"task": hw.name, "policy": policy, "target_ms": target_ms, "backend": backend,
            "board": board.name, "threshold_q16": hw.threshold_q16, "input": source,
            "array_n": board.array_n, "artifact_sha256": artifact_sha256}


def open_log(path: Path, header: dict) -> tuple[list[dict], object]:
    """Records already in the log, and the log opened for appending (header written if new)."""
    path = Path(path)
    records = []
    if path.exists() and path.stat().st_size:
        data = path.read_bytes()
        keep = data.rfind(b"\n") + 1                  # a line cut short by a kill is dropped
        lines = data[:keep].decode("utf-8").splitlines()
        first = log_header(lines)
        if first is None:
            raise RunLogError(f"{path} is not an edgebert run log; choose another --out")
        diff = {k: (first.get("run", {}).get(k), v) for k, v in header.items() if first.get("run", {}).get(k) != v}
        if diff:
            raise RunLogError(f"{path} was written by a run with other settings "
                              f"({', '.join(f'{k}: {a} vs {b}' for k, (a, b) in diff.items())}); "
                              "use another --out or the same settings")
        records = [json.loads(line) for line in lines[1:] if line.strip()]
        if keep < len(data):
            with open(path, "r+b") as f:
                f.truncate(keep)
        log = open(path, "a", encoding="utf-8")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        log = open(path, "w", encoding="utf-8")
        log.write(json.dumps({"format": LOG_FORMAT, "run": header}) + "\n")
        log.flush()
    return records, log


# ---- one sentence, stage by stage --------------------------------------------------------------
STAGES = ("tokenize", "pack", "accel", "record", "energy", "log")   # docs/host.md: what each one does


def _q16(values) -> list[float]:
    return [round(int(v) / 2.0 ** ENTROPY_FRAC, 6) for v in values]


def _true_exit(entropies: list[int], threshold: int, layers: int) -> int:
    below = [i for i, h in enumerate(entropies) if h < threshold]
    return below[0] + 1 if below else layers


@dataclass
class Packed:
    """An item ready for the accelerator: its token words where phase 1 reads them."""
    item: Item
    tokens: object               # what the backend's phase 1 takes (words, or a staged buffer)
    words: list[int]             # DDR words of each token's embedding record
    slot: int | None = None      # the backend's staging slot it holds, if any


@dataclass
class Outcome:
    """What the accelerator stage hands to the record stage."""
    p1: PhaseResult
    f1: float
    wall1: float
    p2: PhaseResult | None
    plan: Decision | None
    wall2: float
    latency_ms: float
    switches: int
    switch_s: float
    true_exit: int


class SentenceRunner:
    """One sentence's stages after tokenizing: `pack` (token words, staged for the device),
    `accelerate` (phase 1, the DVFS decision, phase 2: the device, one sentence at a time),
    `record` (the log record) and `energy` (its 12 nm projection). `run` chains them."""

    def __init__(self, backend: Backend, task, policy: str, target_ms: float, grid: VfGrid | None = None):
        self.backend, self.task, self.policy = backend, task, check_policy(policy)
        if not target_ms > 0:
            raise ValueError(f"the latency target must be positive, got {target_ms} ms")
        self.target_ms = float(target_ms)
        self.grid = grid or load_grid()
        self.sched = schedule_for(task, backend.board.name, backend.board.array_n).warm()
        self.threshold = task.threshold_q16
        self.layers = task.cfg.layers
        self.energy_params = EnergyParams.load()
        self.deadline_ms = asic_deadline_ms(self.target_ms, backend.board, self.energy_params)
        self._record_words = images.embedding_record_words(task.word_table, np.arange(task.cfg.vocab_size)).tolist()

    def record_words(self, ids) -> list[int]:
        """DDR words of each token's embedding record (what phase 1 will fetch)."""
        return [self._record_words[i] for i in ids]

    def run(self, item: Item) -> dict:
        return self.energy(self.record(item, self.accelerate(self.pack(item))))

    def pack(self, item: Item, slot: int | None = None) -> Packed:
        enc = item.encoded
        tokens = images.token_words(enc.ids, enc.token_types)
        if slot is not None:
            tokens = self.backend.stage_tokens(tokens, slot)
        return Packed(item, tokens, self.record_words(enc.ids), slot)

    def _reference(self, tokens) -> int:
        """The exit layer plain early exit reaches (an untimed pass for oracle, and for the lai
        policies when they stopped at the prediction)."""
        p1 = self.backend.phase1(tokens, self.threshold)
        if p1.exit_now:
            return 1
        return self.backend.phase2(self.threshold, self.layers).exit_layer

    def accelerate(self, packed: Packed) -> Outcome:
        b, tokens, s = self.backend, packed.tokens, len(packed.words)
        gate = -1 if self.policy == "base" else self.threshold
        true_exit = self._reference(tokens) if self.policy == "oracle" else None
        want1 = phase1_clock(self.policy, b.clock, self.grid, self.sched, self.sched.phase1_cycles(packed.words),
                             s, self.layers, self.target_ms)
        t_switch = time.perf_counter()
        switched1 = b.clock.mhz != want1               # the previous sentence left another clock
        f1 = b.set_clock(want1)
        switch_s = time.perf_counter() - t_switch
        t0 = time.perf_counter()
        p1 = b.phase1(tokens, gate)
        wall1 = time.perf_counter() - t0
        latency = p1.counters["cycles"] / (f1 * 1e3) + switched1 * b.board.clock_switch_us / 1e3
        p2, plan, wall2, switches = None, None, 0.0, int(switched1)
        if not p1.exit_now:
            predicted = predicted_for(self.policy, p1.predicted_layer, p1.predicted_binned)
            plan = phase2_plan(self.policy, b.clock, self.grid, self.sched, s, self.layers,
                               predicted, true_exit, latency, self.target_ms, current_mhz=f1)
            t_switch = time.perf_counter()
            if plan.mhz != b.clock.mhz:
                b.set_clock(plan.mhz)
                switches += 1
                latency += b.board.clock_switch_us / 1e3
            switch_s += time.perf_counter() - t_switch
            t0 = time.perf_counter()
            p2 = b.phase2(gate, plan.stop_layer)
            wall2 = time.perf_counter() - t0
            latency += p2.counters["cycles"] / (plan.mhz * 1e3)
        if true_exit is None:
            true_exit = self._observed_true_exit(tokens, p1, p2)
        return Outcome(p1, f1, wall1, p2, plan, wall2, latency, switches, switch_s, true_exit)

    def _observed_true_exit(self, tokens, p1: PhaseResult, p2: PhaseResult | None) -> int:
        entropies = self._entropies(p1, p2)
        exit_layer = 1 if p2 is None else p2.exit_layer
        if self.policy == "base":
            return _true_exit(entropies, self.threshold, self.layers)
        if entropies[-1] < self.threshold or exit_layer == self.layers:
            return exit_layer                       # left by its own entropy (or ran every layer)
        return self._reference(tokens)              # stopped at the predicted layer: look further

    @staticmethod
    def _entropies(p1: PhaseResult, p2: PhaseResult | None) -> list[int]:
        return [p1.h1] + ([] if p2 is None else [p2.entropies[l] for l in range(2, p2.exit_layer + 1)])

    def record(self, item: Item, o: Outcome) -> dict:
        p1, p2, enc = o.p1, o.p2, item.encoded
        rec = {"id": item.id, "text_chars": len(item.text), "tokens": len(enc.ids), "truncated_from": enc.truncated_from,
               "policy": self.policy, "predicted_exit_layer": p1.predicted_layer,
               "predicted_exit_layer_binned": p1.predicted_binned, "h1": _q16([p1.h1])[0],
               "phase1": {"cycles": p1.counters["cycles"], "clock_mhz": o.f1, "ms": p1.counters["cycles"] / (o.f1 * 1e3),
                          "wall_ms": o.wall1 * 1e3, "vf": vars(vf_point(self.grid, self.backend.clock, o.f1)),
                          "counters": p1.counters}}
        if p2 is not None:
            rec["phase2"] = {"cycles": p2.counters["cycles"], "clock_mhz": o.plan.mhz,
                             "ms": p2.counters["cycles"] / (o.plan.mhz * 1e3), "wall_ms": o.wall2 * 1e3,
                             "vf": vars(o.plan.vf), "stop_layer": o.plan.stop_layer, "counters": p2.counters}
        logits = p1.logits if p2 is None else p2.logits
        pred = int(np.argmax(logits))
        rec.update(exit_layer=1 if p2 is None else p2.exit_layer, true_exit_layer=o.true_exit,
                   entropies=_q16(self._entropies(p1, p2)), logits=[int(v) for v in logits], prediction=pred,
                   label=item.label, correct=None if item.label is None else pred == item.label,
                   latency_ms=o.latency_ms, target_ms=self.target_ms, target_met=o.latency_ms <= self.target_ms + 1e-12,
                   planned_miss=bool(o.plan and o.plan.planned_miss), clock_switches=o.switches,
                   host_clock_switch_ms=o.switch_s * 1e3)
        return rec

    def energy(self, rec: dict) -> dict:
        """The energy stage: the sentence's 12 nm projection (edgebert.accel.energy, the
        reports' own; shipped parameters, idle power to the ASIC deadline) in the record."""
        e = project(rec, self.energy_params, self.sched, self.deadline_ms)
        rec["energy_12nm"] = {"uj": round(e["energy_uj"], 6), "asic_ms": round(e["asic_ms"], 6),
                              "phase1_uj": round(e["phases"]["phase1"], 6), "phase2_uj": round(e["phases"]["phase2"], 6),
                              "idle_uj": round(e["ops"]["idle"], 6)}
        return rec


# ---- a whole run, serial ------------------------------------------------------------------------
class StageTimer:
    """Wall time of each stage of one sentence (ms), and its end-to-end time: from admission to
    the pipeline to its record built (the log write follows)."""

    def __init__(self):
        self.start = time.perf_counter()
        self.ms: dict[str, float] = {}

    def __call__(self, stage: str, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        self.ms[stage] = (time.perf_counter() - t0) * 1e3
        return out

    def stamp(self, rec: dict) -> dict:
        """Adds the host-side figures to a sentence's record."""
        if is_sentence(rec):
            e2e = (time.perf_counter() - self.start) * 1e3
            rec["host"] = {"stage_ms": {k: round(v, 4) for k, v in self.ms.items()},
                           "queue_ms": round(max(e2e - sum(self.ms.values()), 0.0), 4),
                           "end_to_end_ms": round(e2e, 4)}
        return rec


def run(backend: Backend, task, items: list[Item], policy: str, target_ms: float, out: Path,
        header: dict, progress: bool = True, stage_log: list | None = None) -> dict:
    """The serial run: every stage of a sentence, then the next sentence. `stage_log`, if
    given, receives each sentence's stage times (the log stage's too)."""
    records, log = open_log(out, header)
    done = {r["id"] for r in records}
    runner = SentenceRunner(backend, task, policy, target_ms)
    tokenizer = run_tokenizer(task, backend, items)
    backend.prepare(task)
    restore_clock(backend, records)
    todo = [it for it in items if it.id not in done]
    t0 = time.perf_counter()

    def record(item: Item) -> dict:
        timer = StageTimer()
        item = timer("tokenize", tokenize, item, tokenizer)
        rec = item_record(item)
        if rec is None:
            packed = timer("pack", runner.pack, item)
            outcome = timer("accel", runner.accelerate, packed)
            rec = timer("record", runner.record, item, outcome)
            rec = timer.stamp(timer("energy", runner.energy, rec))
        if stage_log is not None:
            stage_log.append(timer.ms)
        return rec
    append_records(out, log, records, todo, record, desc=f"{policy} on {backend.name}", disable=not progress,
                   initial=len(items) - len(todo), total=len(items), stage_log=stage_log)
    return {**summarize(records, header), "loop_s": time.perf_counter() - t0}


def restore_clock(backend: Backend, records: list[dict]) -> float | None:
    """A resumed run first puts the clock back where its log left it (unlogged), so that the
    resumed log holds the clock switches of a run never interrupted. Returns that clock."""
    last = next((r for r in reversed(records) if is_sentence(r)), None)
    if last is None:
        return None
    return backend.set_clock((last.get("phase2") or last["phase1"])["clock_mhz"])


def run_tokenizer(task, backend: Backend, items: list[Item]):
    """The tokenizer of a run whose items wait for one (at the board build's sentence limit)."""
    if not any(it.pending for it in items):
        return None
    from edgebert.core.tokenization import Tokenizer
    return Tokenizer(max_tokens(task, backend.board.name))


def append_records(out: Path, log, records: list[dict], todo, record, stage_log: list | None = None,
                   **progress) -> None:
    """One JSON line per item of `todo`, flushed as soon as it is done (a kill loses at most the
    line being written), appended to `records` too; closes the log. `progress`: tqdm's options.
    `stage_log`: the log write's time goes into the last entry."""
    try:
        for item in tqdm(todo, unit="sentence", **progress):
            rec = record(item)
            write_record(log, rec, stage_log)
            records.append(rec)
        os.fsync(log.fileno())
    except DeviceError as e:
        # The type stays (callers tell a timeout from a fault); the message says how to go on.
        e.args = (f"{e} (the log {out} keeps every finished sentence; rerun to resume)",)
        raise
    finally:
        log.close()


def write_record(log, rec: dict, stage_log: list | None = None) -> None:
    """The log stage: one JSON line, flushed."""
    t0 = time.perf_counter()
    log.write(json.dumps(rec) + "\n")
    log.flush()
    if stage_log is not None and stage_log:
        stage_log[-1]["log"] = (time.perf_counter() - t0) * 1e3


def summarize(records: list[dict], header: dict) -> dict:
    ok = [r for r in records if is_sentence(r)]
    skipped = [r["skipped"] for r in records if "skipped" in r]
    labelled = [r for r in ok if r.get("label") is not None]
    clocks: dict[str, int] = {}
    for r in ok:
        key = f"{(r.get('phase2') or r['phase1'])['clock_mhz']:g}"
        clocks[key] = clocks.get(key, 0) + 1
    lat = np.array([r["latency_ms"] for r in ok]) if ok else np.zeros(1)
    e2e = np.array([r["host"]["end_to_end_ms"] for r in ok if "host" in r] or [0.0])
    queue = np.array([r["host"]["queue_ms"] for r in ok if "host" in r] or [0.0])
    return {"task": header.get("task"), "policy": header.get("policy"), "backend": header.get("backend"),
            "board": header.get("board"), "n": len(ok), "errors": sum("error" in r for r in records),
            "skipped": len(skipped), "skipped_reasons": {k: skipped.count(k) for k in sorted(set(skipped))},
            "lines": len(records),
            "accuracy": float(np.mean([r["correct"] for r in labelled])) if labelled else None,
            "avg_exit_layer": float(np.mean([r["exit_layer"] for r in ok])) if ok else 0.0,
            "target_ms": header.get("target_ms"),
            "target_met_fraction": float(np.mean([r["target_met"] for r in ok])) if ok else 0.0,
            "latency_mean_ms": float(lat.mean()), "latency_p99_ms": float(np.percentile(lat, 99)),
            "clock_mhz_histogram": dict(sorted(clocks.items(), key=lambda kv: float(kv[0]))),
            "planned_misses": sum(bool(r.get("planned_miss")) for r in ok),
            "end_to_end_mean_ms": float(e2e.mean()), "end_to_end_p99_ms": float(np.percentile(e2e, 99)),
            "queue_mean_ms": float(queue.mean())}
