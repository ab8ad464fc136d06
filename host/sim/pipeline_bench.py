"""Serial against pipelined host throughput on the timing-faithful device, with the per-stage
prediction checked against measurement (`edgebert bench host --pipeline`).

Steps: a priming pass computes every answer on the C-simulation (untimed); with `calibrate`, a
timed serial pass fits the host stages' lines (the stage model of this machine); a measured
timed serial pass gives the serial throughput and each stage's measurement; the balancing
chooses a mapping from the predictions; a timed pipelined pass with that mapping gives the
pipelined throughput, and its records are compared with the serial pass's.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np

from edgebert.accel import images
from edgebert.accel.builds import schedule_for
from edgebert.runtime import stage_model
from edgebert.runtime.boards import Board
from edgebert.runtime.golden_backend import GoldenBackend
from edgebert.runtime.inputs import Item, is_sentence, max_tokens, tokenize
from edgebert.runtime.pipeline import Mapping, handover_ms, run_pipelined
from edgebert.runtime.runner import open_log, run, run_header, run_tokenizer
from edgebert.sim.backend import CSimBackend
from edgebert.sim.timed import TimedDevice

SAME_FIELDS = ("id", "prediction", "exit_layer", "true_exit_layer", "logits", "entropies", "latency_ms")


def same_results(a: list[dict], b: list[dict]) -> bool:
    """Two runs' records agree in everything but wall times and host figures: predictions, exit
    layers, logits, entropies, latency, and each phase's cycles, clock and counters."""
    def key(r):
        phases = tuple((r[p]["cycles"], r[p]["clock_mhz"], tuple(sorted(r[p]["counters"].items())))
                       for p in ("phase1", "phase2") if p in r)
        return tuple(repr(r.get(f)) for f in SAME_FIELDS) + phases
    return len(a) == len(b) and all(key(x) == key(y) for x, y in zip(a, b))


def descriptors(hw, board: Board, items: list[Item], records: list[dict], tokenizer) -> list[dict]:
    """Each sentence's descriptors with its device time from the cycle model."""
    sched = schedule_for(hw, board.name, board.array_n).warm()
    by_id = {it.id: it for it in items}
    out = []
    for r in records:
        ids = np.array(tokenize(by_id[r["id"]], tokenizer).encoded.ids)
        words = images.embedding_record_words(hw.word_table, ids).tolist()
        out.append(stage_model.descriptors(r, stage_model.device_ms(sched, words, r, board.clock_switch_us)))
    return out


def comparable_clock(board: Board, host_ms: float, device_top_ms: float) -> float:
    """The board clock at which the device's mean time comes closest to the host's: lower than
    the top clock when the host is the slower, the top clock (the closest it gets) when the
    device is."""
    want = min(board.top_clock * device_top_ms / max(host_ms, 1e-9), board.top_clock)
    return min(board.clocks, key=lambda f: abs(f - want))


class _Passes:
    """Passes over the same items on one device (timed, or any backend), each into its own log."""

    def __init__(self, device, hw, items: list[Item], policy: str, target_ms: float, folder: Path):
        self.device, self.hw, self.items, self.policy, self.target_ms = device, hw, items, policy, target_ms
        self.folder = folder
        self.tokenizer = run_tokenizer(hw, device, items)

    def run(self, name: str, header: dict, mapping: Mapping | None = None):
        """(sentence records, their stage times, wall seconds, overruns)."""
        stage_log: list[dict] = []
        out = self.folder / f"{name}.jsonl"
        self.device.overruns = 0
        args = (self.device, self.hw, self.items, self.policy, self.target_ms, out, header)
        if mapping is None:
            summary = run(*args, progress=False, stage_log=stage_log)
        else:
            summary = run_pipelined(*args, mapping, progress=False, stage_log=stage_log)
        wall = summary["loop_s"]                 # the sentence loop: set-up is not throughput
        records, log = open_log(out, header)
        log.close()
        kept = [(r, t) for r, t in zip(records, stage_log) if is_sentence(r)]
        return [r for r, _ in kept], [t for _, t in kept], wall, self.device.overruns

    def timed(self, records: list[dict], stage_log: list[dict], board: Board):
        descs = descriptors(self.hw, board, self.items, records, self.tokenizer)
        return descs, [stage_model.measured(t, d) for t, d in zip(stage_log, descs)]


def bench_pipeline(hw, board: Board, items: list[Item], policy: str, target_ms: float, artifact_sha256: str,
                   clock_mhz: float | None = None, calibrate: bool = False, cores: int | None = None,
                   calibration_out: Path | None = None) -> dict:
    """`items` untokenized (the tokenize stage is part of what is measured)."""
    cores = cores or os.cpu_count() or 1
    model = None if calibrate else stage_model.load()
    with tempfile.TemporaryDirectory() as tmp, TimedDevice(CSimBackend(board)) as device:
        passes = _Passes(device, hw, items, policy, target_ms, Path(tmp))
        # 1. Every answer from the C-simulation, at the board's own maximum (untimed).
        header = run_header(hw, policy, target_ms, "timed", board, "dev", artifact_sha256)
        prime, prime_log, prime_wall, _ = passes.run("prime", header)
        # 2. The clock at which host and device take comparable time.
        if clock_mhz is None:
            descs, times = passes.timed(prime, prime_log, board)
            host = model or _host_estimate(descs, times)
            host_ms = np.mean([sum(host.predict(s, d) for s in stage_model.HOST_STAGES) for d in descs])
            clock_mhz = comparable_clock(board, host_ms, np.mean([d["device_ms"] for d in descs]))
        capped = dataclasses.replace(board, fmax_mhz=clock_mhz)
        device.board = device.clock.board = capped
        device.clock.mhz = capped.top_clock
        header = run_header(hw, policy, target_ms, "timed", capped, "dev", artifact_sha256)
        passes.run("prime-at-clock", header)     # a policy's stop layers can depend on the clock
        if calibrate:
            recs, log, _, _ = passes.run("calibrate", header)
            model = stage_model.fit(*passes.timed(recs, log, capped), csim_ms_per_mcycle=_csim_speed(prime, prime_log),
                                    ipc_ms=handover_ms(items, max_tokens(hw, board.name)),
                                    note=f"fitted on {len(recs)} {hw.name} dev sentences, policy {policy}, "
                                         f"{capped.name} at {clock_mhz:g} MHz (timing-faithful device)")
            if calibration_out:
                model.save(calibration_out)
            else:
                stage_model.save_with_assumed_cores(model)
        serial, serial_log, serial_wall, serial_overruns = passes.run("serial", header)
        descs, times = passes.timed(serial, serial_log, capped)
        plan = stage_model.balance(model, descs, cores, target_ms)
        mapping = Mapping(**plan["mapping"])
        piped, _, piped_wall, piped_overruns = passes.run("pipelined", header, mapping)
        cpu = _cpu_baseline(hw, board, items, policy, target_ms, artifact_sha256, Path(tmp), mapping)
    n = len(serial)
    return {"task": hw.name, "board": board.name, "clock_mhz": clock_mhz, "policy": policy, "sentences": n,
            "cores": cores, "device": "timing-faithful (C-simulation answers, held for cycles / clock)",
            "sentences_per_s_serial": round(n / serial_wall, 1), "sentences_per_s_pipelined": round(n / piped_wall, 1),
            "speedup": round(serial_wall / piped_wall, 3), "same_results": same_results(serial, piped),
            "mapping": {**plan["mapping"], "described": mapping.describe()},
            "predicted_bottleneck": plan["predicted"]["bottleneck"],
            "predicted_sentences_per_s_pipelined": plan["predicted"]["sentences_per_s"],
            "predicted_speedup": plan["predicted_speedup"],
            "stages": stage_model.compare(model, descs, times),
            "stage_model": {"machine": model.machine, "note": model.note, "calibrated_here": calibrate},
            "overruns": {"serial": serial_overruns, "pipelined": piped_overruns},
            "cpu_baseline": cpu,
            "prime_wall_s": round(prime_wall, 1)}


def _host_estimate(descs: list[dict], times: list[dict]) -> stage_model.StageModel:
    """A rough host model from the priming pass, only to choose the clock: its accel stage is
    the C-simulation's compute, so the accel stage's host share counts as zero."""
    return stage_model.fit(descs, [{**t, "accel_host": 0.0} for t in times])


def _csim_speed(records: list[dict], stage_log: list[dict]) -> float:
    """The C-simulation's milliseconds per million cycles on this machine (its accel stage over
    the cycles it simulated), for planning pipelined runs on the C-simulation."""
    cycles = sum(r["phase1"]["cycles"] + r.get("phase2", {}).get("cycles", 0) for r in records)
    return sum(t["accel"] for t in stage_log) / (cycles / 1e6)


def predict_pipeline(hw, board: Board, items: list[Item], policy: str, target_ms: float, artifact_sha256: str,
                     model: stage_model.StageModel, cores: int) -> dict:
    """What the stage model predicts for `board` with `model`'s cores, without measuring: the
    sentences' descriptors and device times (cycle model, the board's top clock) from one
    untimed pass, then the balancing."""
    with tempfile.TemporaryDirectory() as tmp, TimedDevice(CSimBackend(board)) as device:
        passes = _Passes(device, hw, items, policy, target_ms, Path(tmp))
        header = run_header(hw, policy, target_ms, "timed", board, "dev", artifact_sha256)
        records, log, _, _ = passes.run("prime", header)
        descs, _ = passes.timed(records, log, board)
    plan = stage_model.balance(model, descs, cores, target_ms)
    return {"task": hw.name, "board": board.name, "clock_mhz": board.top_clock, "policy": policy,
            "sentences": len(descs), "stage_model": {"machine": model.machine, "assumed": model.assumed},
            "cores": cores, "mapping": plan["mapping"], "predicted_bottleneck": plan["predicted"]["bottleneck"],
            "predicted_sentences_per_s_serial": round(1e3 / plan["serial_period_ms"], 1),
            "predicted_sentences_per_s_pipelined": plan["predicted"]["sentences_per_s"],
            "predicted_speedup": plan["predicted_speedup"],
            "predicted_end_to_end_ms": plan["predicted"]["end_to_end_ms"],
            "stage_mean_ms": plan["stage_mean_ms"]}


def _cpu_baseline(hw, board: Board, items: list[Item], policy: str, target_ms: float, artifact_sha256: str,
                  folder: Path, mapping: Mapping) -> dict:
    """The same sentences with the golden model on the host's cores in place of the PL (what a
    user without the PL would do), serial and pipelined with the same mapping."""
    out = {"device": "golden model (numpy) on the host's cores"}
    for name, how in (("serial", None), ("pipelined", mapping)):
        with GoldenBackend(board) as device:
            header = run_header(hw, policy, target_ms, "golden", board, "dev", artifact_sha256)
            passes = _Passes(device, hw, items, policy, target_ms, folder)
            records, _, wall, _ = passes.run(f"cpu-{name}", header, how)
        out[f"sentences_per_s_{name}"] = round(len(records) / wall, 1)
    return out
