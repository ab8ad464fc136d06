"""Stream sentences through a backend under a DVFS policy and log one JSON line per sentence.

The log is append-only: a header line fixes the run's settings, then one record per sentence.
A rerun with the same `--out` skips the ids already logged (no loss, no duplicates); a record
cut short by a kill is dropped and redone; a log written with other settings is refused.
Records hold everything the energy model and the reports need: cycles, clock, counters and
wall time per phase, exit layers, entropies, prediction and label.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edgebert.accel import images
from edgebert.accel.asic12nm import VfGrid, load_grid
from edgebert.accel.builds import get_build, schedule_for
from edgebert.accel.numerics.functions import ENTROPY_FRAC
from edgebert.core.errors import DeviceError, InputError
from edgebert.core.tasks import get_task, read_examples
from edgebert.core.tokenization import EmptyInputError, Encoded, Tokenizer, TruncationWarning
from edgebert.runtime.backend import Backend
from edgebert.runtime.policy import check_policy, phase1_clock, phase2_plan, predicted_for, vf_point

LOG_FORMAT = "edgebert-run-v1"
MAX_TARGET_MS = 60_000


class RunLogError(InputError):
    """The output log belongs to another run or is not a run log."""


@dataclass
class Item:
    id: str
    text: str
    encoded: Encoded | None
    label: int | None
    error: str | None = None
    skipped: str | None = None           # an input line with no sentence on it, and why


def skipped_line(line: bytes) -> str | None:
    """Why an input line holds no sentence (it still gets a log record), or None."""
    if not line:
        return "empty line"
    if not line.strip():
        return "blank line (white space only)"
    return None


def is_sentence(rec: dict) -> bool:
    """A log record of a sentence that ran (not an input error, not a skipped line)."""
    return "error" not in rec and "skipped" not in rec


def item_record(item: Item) -> dict | None:
    """The log record of an item that does not run, or None for one that does."""
    if item.error:
        return {"id": item.id, "text_chars": len(item.text), "error": item.error}
    if item.skipped:
        return {"id": item.id, "text_chars": len(item.text), "skipped": item.skipped}
    return None


# ---- inputs -------------------------------------------------------------------------------------
def task_items(task: str, tokenizer: Tokenizer, limit: int | None = None) -> list[Item]:
    """A task's labelled dev set (shipped with the project)."""
    t = get_task(task)
    examples = read_examples(t, "dev")[:limit]
    items = []
    for i, e in enumerate(examples):
        text = e.text_a if e.text_b is None else f"{e.text_a}\t{e.text_b}"
        items.append(_encode(f"{t.name}-dev-{i}", text, tokenizer, t.pair, e.label))
    return items


def text_items(raw: bytes, tokenizer: Tokenizer, pair: bool, prefix: str = "line") -> list[Item]:
    """One sentence per line (a tab separates the two sentences of a pair task). Every line gets
    a record: an empty or blank line one with `skipped` and the reason; a line that is not UTF-8
    or has no tokens one with an `error`."""
    items = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if skipped_line(line):
            items.append(Item(f"{prefix}-{n}", line.decode("utf-8", "replace"), None, None, skipped=skipped_line(line)))
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            items.append(Item(f"{prefix}-{n}", "", None, None, f"line {n} is not UTF-8 ({e.reason} at byte {e.start})"))
            continue
        items.append(_encode(f"{prefix}-{n}", text.rstrip("\r"), tokenizer, pair, None))
    return items


def token_items(raw: bytes, vocab_size: int, max_len: int) -> list[Item]:
    """Pre-tokenized input (`edgebert tokenize`): one JSON object a line with `id`, `ids`,
    `token_types` and optionally `label`; a bad line becomes a record with an `error`, an empty
    or blank one a record with `skipped`."""
    items = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if skipped_line(line):
            items.append(Item(f"line-{n}", "", None, None, skipped=skipped_line(line)))
            continue
        try:
            obj = json.loads(line)
            ids, types = [int(v) for v in obj["ids"]], [int(v) for v in obj["token_types"]]
            item_id = str(obj.get("id", f"line-{n}"))
        except (ValueError, KeyError, TypeError) as e:
            items.append(Item(f"line-{n}", "", None, None, f"line {n} is not a token record ({e})"))
            continue
        problem = None
        if not ids or len(ids) != len(types):
            problem = "ids and token_types must be non-empty and of one length"
        elif len(ids) > max_len:
            problem = f"{len(ids)} tokens exceed the accelerator's {max_len}"
        elif min(ids) < 0 or max(ids) >= vocab_size or min(types) < 0 or max(types) > 1:
            problem = "a token id or type is outside the vocabulary"
        items.append(Item(item_id, "", None if problem else Encoded(ids, types), obj.get("label"), problem))
    return items


def max_tokens(hw, board: str | None = None) -> int:
    """The longest sentence a run holds: the artifact's limit, or a board build's if shorter."""
    if not board or board == "sim":
        return hw.cfg.max_len
    return min(hw.cfg.max_len, get_build(board).limit("EB_MAX_LEN"))


def read_input(path: str) -> bytes:
    """The bytes of an input file; '-' reads standard input."""
    if path == "-":
        return sys.stdin.buffer.read()
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no such file: {path}")
    return p.read_bytes()


def input_items(task, max_len: int, input_path: str | None = None, tokens_path: str | None = None,
                vocab_size: int | None = None, limit: int | None = None) -> tuple[list[Item], str]:
    """A run's sentences, from pre-tokenized records, raw text or the task's dev set, and the
    name of that input for the log header (a checksum of the file's bytes)."""
    if tokens_path:
        raw = read_input(tokens_path)
        return token_items(raw, vocab_size, max_len)[:limit], f"tokens:{hashlib.sha256(raw).hexdigest()[:16]}"
    tok = Tokenizer(max_len)
    if input_path:
        raw = read_input(input_path)
        return text_items(raw, tok, task.pair)[:limit], f"sha256:{hashlib.sha256(raw).hexdigest()[:16]}"
    return task_items(task.name, tok, limit), "dev"


def _encode(item_id: str, text: str, tokenizer: Tokenizer, pair: bool, label) -> Item:
    parts = text.split("\t") if pair else [text]
    if pair and len(parts) != 2:
        return Item(item_id, text, None, label, "a pair task needs two sentences separated by a tab")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            enc = tokenizer.encode(parts[0], parts[1] if pair else None)
    except EmptyInputError as e:
        return Item(item_id, text, None, label, str(e))
    return Item(item_id, text, enc, label)


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


# ---- one sentence -------------------------------------------------------------------------------
def _q16(values) -> list[float]:
    return [round(int(v) / 2.0 ** ENTROPY_FRAC, 6) for v in values]


def _true_exit(entropies: list[int], threshold: int, layers: int) -> int:
    below = [i for i, h in enumerate(entropies) if h < threshold]
    return below[0] + 1 if below else layers


class SentenceRunner:
    def __init__(self, backend: Backend, task, policy: str, target_ms: float, grid: VfGrid | None = None):
        self.backend, self.task, self.policy = backend, task, check_policy(policy)
        if not target_ms > 0:
            raise ValueError(f"the latency target must be positive, got {target_ms} ms")
        self.target_ms = float(target_ms)
        self.grid = grid or load_grid()
        self.sched = schedule_for(task, backend.board.name, backend.board.array_n).warm()
        self.threshold = task.threshold_q16
        self.layers = task.cfg.layers
        self._record_words = images.embedding_record_words(task.word_table, np.arange(task.cfg.vocab_size)).tolist()

    def record_words(self, ids) -> list[int]:
        """DDR words of each token's embedding record (what phase 1 will fetch)."""
        return [self._record_words[i] for i in ids]

    def _reference(self, tokens) -> int:
        """The exit layer plain early exit reaches (an untimed pass for oracle, and for the lai
        policies when they stopped at the prediction)."""
        p1 = self.backend.phase1(tokens, self.threshold)
        if p1.exit_now:
            return 1
        return self.backend.phase2(self.threshold, self.layers).exit_layer

    def run(self, item: Item) -> dict:
        b, enc = self.backend, item.encoded
        tokens = images.token_words(enc.ids, enc.token_types)
        s = len(enc.ids)
        gate = -1 if self.policy == "base" else self.threshold
        true_exit = self._reference(tokens) if self.policy == "oracle" else None
        want1 = phase1_clock(self.policy, b.clock, self.grid, self.sched,
                             self.sched.phase1_cycles(self.record_words(enc.ids)), s, self.layers, self.target_ms)
        t_switch = time.perf_counter()
        switched1 = b.clock.mhz != want1               # the previous sentence left another clock
        f1 = b.set_clock(want1)
        switch_s = time.perf_counter() - t_switch
        t0 = time.perf_counter()
        p1 = b.phase1(tokens, gate)
        wall1 = time.perf_counter() - t0
        ms1 = p1.counters["cycles"] / (f1 * 1e3)
        rec = {"id": item.id, "text_chars": len(item.text), "tokens": s, "truncated_from": enc.truncated_from,
               "policy": self.policy, "predicted_exit_layer": p1.predicted_layer,
               "predicted_exit_layer_binned": p1.predicted_binned, "h1": _q16([p1.h1])[0],
               "phase1": {"cycles": p1.counters["cycles"], "clock_mhz": f1, "ms": ms1,
                          "wall_ms": wall1 * 1e3, "vf": vars(vf_point(self.grid, b.clock, f1)),
                          "counters": p1.counters}}
        entropies, logits, exit_layer, switches, planned_miss = [p1.h1], p1.logits, 1, int(switched1), False
        latency = ms1 + switched1 * b.board.clock_switch_us / 1e3
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
            ms2 = p2.counters["cycles"] / (plan.mhz * 1e3)
            latency += ms2
            entropies += [p2.entropies[l] for l in range(2, p2.exit_layer + 1)]
            logits, exit_layer, planned_miss = p2.logits, p2.exit_layer, plan.planned_miss
            rec["phase2"] = {"cycles": p2.counters["cycles"], "clock_mhz": plan.mhz, "ms": ms2,
                             "wall_ms": wall2 * 1e3, "vf": vars(plan.vf), "stop_layer": plan.stop_layer,
                             "counters": p2.counters}
        if true_exit is None:
            true_exit = self._observed_true_exit(tokens, entropies, exit_layer)
        pred = int(np.argmax(logits))
        rec.update(exit_layer=exit_layer, true_exit_layer=true_exit, entropies=_q16(entropies),
                   logits=[int(v) for v in logits], prediction=pred, label=item.label,
                   correct=None if item.label is None else pred == item.label,
                   latency_ms=latency, target_ms=self.target_ms, target_met=latency <= self.target_ms + 1e-12,
                   planned_miss=planned_miss, clock_switches=switches,
                   host_clock_switch_ms=switch_s * 1e3)
        return rec

    def _observed_true_exit(self, tokens, entropies: list[int], exit_layer: int) -> int:
        if self.policy == "base":
            return _true_exit(entropies, self.threshold, self.layers)
        if entropies[-1] < self.threshold or exit_layer == self.layers:
            return exit_layer                       # left by its own entropy (or ran every layer)
        return self._reference(tokens)              # stopped at the predicted layer: look further


# ---- a whole run --------------------------------------------------------------------------------
def run(backend: Backend, task, items: list[Item], policy: str, target_ms: float, out: Path,
        header: dict, progress: bool = True) -> dict:
    records, log = open_log(out, header)
    done = {r["id"] for r in records}
    runner = SentenceRunner(backend, task, policy, target_ms)
    backend.prepare(task)
    todo = [it for it in items if it.id not in done]

    def record(item: Item) -> dict:
        return item_record(item) or runner.run(item)
    append_records(out, log, records, todo, record, desc=f"{policy} on {backend.name}", disable=not progress,
                   initial=len(items) - len(todo), total=len(items))
    return summarize(records, header)


def append_records(out: Path, log, records: list[dict], todo, record, **progress) -> None:
    """One JSON line per item of `todo`, flushed as soon as it is done (a kill loses at most the
    line being written), appended to `records` too; closes the log. `progress`: tqdm's options."""
    try:
        for item in tqdm(todo, unit="sentence", **progress):
            rec = record(item)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            records.append(rec)
        os.fsync(log.fileno())
    except DeviceError as e:
        # The type stays (callers tell a timeout from a fault); the message says how to go on.
        e.args = (f"{e} (the log {out} keeps every finished sentence; rerun to resume)",)
        raise
    finally:
        log.close()


def summarize(records: list[dict], header: dict) -> dict:
    ok = [r for r in records if is_sentence(r)]
    skipped = [r["skipped"] for r in records if "skipped" in r]
    labelled = [r for r in ok if r.get("label") is not None]
    clocks: dict[str, int] = {}
    for r in ok:
        key = f"{(r.get('phase2') or r['phase1'])['clock_mhz']:g}"
        clocks[key] = clocks.get(key, 0) + 1
    lat = np.array([r["latency_ms"] for r in ok]) if ok else np.zeros(1)
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
            "planned_misses": sum(bool(r.get("planned_miss")) for r in ok)}
