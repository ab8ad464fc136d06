"""Per-stage performance prediction and pipeline balancing (after Pipe-it, Wang et al. 2019:
predict each stage's time on each kind of core from the stage's descriptors, then choose the
mapping that balances the pipeline).

Descriptors of a sentence, known without running it except the exit layer: its characters,
tokens, exit layer (real, or predicted), the phases and clock switches it takes, and the clock.
The device's time comes from the cycle model (cycles / clock, exact on the board and on the
timing-faithful device); each host stage's from a line fitted on a calibration run on the
machine where it runs (least squares, refitted once without the slowest 5 % of samples:
scheduler and garbage-collector pauses are not the stage's cost).

Balancing: the host stages of one process share one interpreter lock, so their times add up
on one core; tokenizer worker processes take the tokenize stage off it (each costs a core and
an inter-process hand-over); the device thread waits for the PL without a core. The period
of the pipeline is the largest of the three; the mapping with the shortest period (then the
shallowest queues) whose predicted end-to-end latency meets the target is chosen.
"""
from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgebert.core.errors import InputError

CALIBRATION_DIR = Path(__file__).parent / "calibration"
HOST_STAGES = ("tokenize", "pack", "accel_host", "record", "energy", "log")
FEATURES = {"tokenize": ("chars",), "pack": ("tokens",), "accel_host": ("phases", "switches"),
            "record": ("exit_layer",), "energy": ("phases",), "log": ("exit_layer",)}
FORMAT = "edgebert-stage-model-v1"
DEPTHS = (2, 3, 4, 8)     # sentences in flight: 2 is the least that overlaps host and device
REFERENCE_MACHINE = "x86_64"     # the machine the shipped measured model comes from
# The boards' application cores, as slowdowns of the reference machine's core for this
# single-threaded Python work: assumptions until `bench host --pipeline --calibrate` runs on a
# board. Basis: J. Whitham (2015) measured a Raspberry Pi 2 (Cortex-A7, 900 MHz) 10-11x slower
# than a Core i3-3220 on integer and mixed code; a Cortex-A53 at 1.2 GHz (Raspberry Pi 3) runs
# 40-60 % faster than the Pi 2; an A9 at 650 MHz about as fast as the Pi 2's A7 at 900 MHz; and a
# current x86 server core about 1.5-2x an i3-3220.
ASSUMED_CORES = {
    "cortex-a53": (10.0, "ZCU104 / KV260: 4x Cortex-A53 at 1.2-1.33 GHz, assumed 10x slower than the reference core"),
    "cortex-a9": (20.0, "PYNQ-Z2: 2x Cortex-A9 at 650 MHz, assumed 20x slower than the reference core"),
}


def descriptors(rec: dict, device_ms: float) -> dict:
    """A logged sentence's descriptors; `device_ms` is its device time from the cycle model."""
    return {"chars": rec["text_chars"], "tokens": rec["tokens"], "exit_layer": rec["exit_layer"],
            "phases": 1 + ("phase2" in rec), "switches": rec["clock_switches"], "device_ms": device_ms}


def device_ms(sched, words: list[int], rec: dict, switch_us: float) -> float:
    """The sentence's device time from the cycle model: phase 1's cycles at its clock, phase 2's
    for the layers it ran at its clock, and the clock switches."""
    ms = sched.phase1_cycles(words) / (rec["phase1"]["clock_mhz"] * 1e3)
    if "phase2" in rec:
        ms += sched.phase2_cycles(len(words), rec["exit_layer"] - 1) / (rec["phase2"]["clock_mhz"] * 1e3)
    return ms + rec["clock_switches"] * switch_us / 1e3


def measured(stage_ms: dict, desc: dict) -> dict:
    """The host stages' measured times of one sentence (the accel stage less its device time)."""
    out = {k: stage_ms[k] for k in ("tokenize", "pack", "record", "energy", "log") if k in stage_ms}
    if "accel" in stage_ms:
        out["accel_host"] = stage_ms["accel"] - desc["device_ms"]
    return out


def _design(stage: str, descs: list[dict]) -> np.ndarray:
    return np.array([[1.0] + [float(d[f]) for f in FEATURES[stage]] for d in descs])


@dataclass
class StageModel:
    machine: str
    coef: dict[str, list[float]]
    ipc_ms: float = 0.0                 # main-process cost of handing a sentence to a worker
    csim_ms_per_mcycle: float | None = None   # the C-simulation's speed here (its device time)
    note: str = ""
    assumed: dict = field(default_factory=dict)   # how a model not measured was derived

    def predict(self, stage: str, desc: dict) -> float:
        if stage == "device":
            return float(desc["device_ms"])
        c = self.coef[stage]
        return max(float(c[0] + sum(ci * float(desc[f]) for ci, f in zip(c[1:], FEATURES[stage]))), 0.0)

    def to_dict(self) -> dict:
        return {"format": FORMAT, "machine": self.machine, "features": FEATURES, "coef": self.coef,
                "ipc_ms": self.ipc_ms, "csim_ms_per_mcycle": self.csim_ms_per_mcycle, "note": self.note,
                "assumed": self.assumed}

    @classmethod
    def from_dict(cls, d: dict) -> StageModel:
        if d.get("format") != FORMAT:
            raise InputError(f"not a stage model (format {d.get('format')!r}, expected {FORMAT})")
        return cls(d["machine"], d["coef"], d.get("ipc_ms", 0.0), d.get("csim_ms_per_mcycle"), d.get("note", ""),
                   d.get("assumed", {}))

    def save(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    def scaled(self, machine: str, factor: float, why: str) -> StageModel:
        """This model on a core `factor` times slower (an assumption until that core is calibrated)."""
        coef = {k: [c * factor for c in v] for k, v in self.coef.items()}
        return StageModel(machine, coef, self.ipc_ms * factor, None, self.note,
                          {"from": self.machine, "factor": factor, "why": why})


def save_with_assumed_cores(model: StageModel) -> list[Path]:
    """Write a measured model, and, when it is the reference machine's, the boards' assumed
    ones derived from it (ASSUMED_CORES)."""
    paths = [CALIBRATION_DIR / f"{model.machine}.json"]
    model.save(paths[0])
    if model.machine == REFERENCE_MACHINE:
        for name, (factor, why) in ASSUMED_CORES.items():
            paths.append(CALIBRATION_DIR / f"{name}.json")
            model.scaled(name, factor, why).save(paths[-1])
    return paths


def load(machine: str | None = None) -> StageModel:
    """The shipped stage model of this machine's kind (`platform.machine()`), or of `machine`."""
    name = machine or platform.machine()
    path = CALIBRATION_DIR / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in CALIBRATION_DIR.glob("*.json"))
        raise InputError(f"no stage model for {name!r} (known: {', '.join(known)}); "
                         "run `edgebert bench host --pipeline --calibrate` on this machine")
    return StageModel.from_dict(json.loads(path.read_text()))


def fit(descs: list[dict], times: list[dict], machine: str | None = None, ipc_ms: float = 0.0,
        note: str = "", csim_ms_per_mcycle: float | None = None) -> StageModel:
    """Least-squares lines per host stage; refitted once without the worst 5 % residuals."""
    coef = {}
    for stage in HOST_STAGES:
        rows = [(d, t[stage]) for d, t in zip(descs, times) if stage in t]
        if len(rows) < len(FEATURES[stage]) + 2:
            raise InputError(f"too few timed sentences to fit the {stage} stage ({len(rows)})")
        x, y = _design(stage, [d for d, _ in rows]), np.array([t for _, t in rows])
        c = np.linalg.lstsq(x, y, rcond=None)[0]
        resid = y - x @ c
        keep = resid <= np.percentile(resid, 95)
        c = np.linalg.lstsq(x[keep], y[keep], rcond=None)[0]
        coef[stage] = [round(float(v), 7) for v in c]
    return StageModel(machine or platform.machine(), coef, round(ipc_ms, 6),
                      None if csim_ms_per_mcycle is None else round(csim_ms_per_mcycle, 4), note)


def compare(model: StageModel, descs: list[dict], times: list[dict]) -> dict:
    """Prediction against measurement per stage: medians over the sentences, and the median of
    the per-sentence relative errors."""
    out = {}
    for stage in ("device",) + HOST_STAGES:
        key = "accel_host" if stage == "accel_host" else stage
        pairs = [(model.predict(stage, d), d["device_ms"] if stage == "device" else t[key])
                 for d, t in zip(descs, times) if stage == "device" or key in t]
        if not pairs:
            continue
        p, m = np.array(pairs).T
        rel = np.abs(p - m) / np.maximum(np.abs(m), 1e-9)
        out[stage] = {"predicted_ms": round(float(np.median(p)), 5), "measured_ms": round(float(np.median(m)), 5),
                      "median_relative_error": round(float(np.median(rel)), 4),
                      "error_of_medians": round(float(abs(np.median(p) - np.median(m)) / max(np.median(m), 1e-9)), 4)}
    return out


def _means(model: StageModel, descs: list[dict]) -> dict[str, float]:
    return {s: float(np.mean([model.predict(s, d) for d in descs])) for s in ("device",) + HOST_STAGES}


def balance(model: StageModel, descs: list[dict], cores: int, target_ms: float | None = None) -> dict:
    """The mapping (tokenize workers, sentences in flight) that maximizes predicted throughput
    on `cores` cores, subject to the predicted end-to-end latency meeting `target_ms`; with
    every candidate's prediction and the bottleneck."""
    t = _means(model, descs)
    serial = sum(t.values())
    candidates = []
    for workers in range(0, max(cores, 1)):
        main = (model.ipc_ms if workers else t["tokenize"]) + sum(t[s] for s in HOST_STAGES if s != "tokenize")
        parts = {"device": t["device"] + t["accel_host"], "main process (one interpreter lock)": main}
        if workers:
            parts[f"tokenize workers ({workers})"] = t["tokenize"] / workers
        period = max(parts.values())
        bottleneck = max(parts, key=parts.get)
        for depth in DEPTHS:
            # Device-bound, a sentence waits behind the others in flight; else it hardly waits.
            ahead = depth - 1 if bottleneck == "device" else 0
            e2e = serial + ahead * period
            candidates.append({"tokenize_workers": workers, "depth": depth, "period_ms": round(period, 5),
                               "sentences_per_s": round(1e3 / period, 1), "end_to_end_ms": round(e2e, 4),
                               "bottleneck": bottleneck})
    ok = [c for c in candidates if target_ms is None or c["end_to_end_ms"] <= target_ms]
    if ok:     # the shortest period (within 1 %), then the fewest in flight and workers
        shortest = min(c["period_ms"] for c in ok)
        best = min(ok, key=lambda c: (round(c["period_ms"] / shortest, 2), c["depth"], c["tokenize_workers"]))
    else:      # none meets the target: the lowest latency, reported as a miss
        best = min(candidates, key=lambda c: (c["end_to_end_ms"], c["period_ms"]))
    return {"mapping": {"tokenize_workers": best["tokenize_workers"], "depth": best["depth"]},
            "predicted": best, "serial_period_ms": round(serial, 5),
            "predicted_speedup": round(serial / best["period_ms"], 3), "stage_mean_ms": {k: round(v, 5) for k, v in t.items()},
            "meets_target": target_ms is None or best["end_to_end_ms"] <= target_ms,
            "cores": cores, "candidates": candidates}


def planning_descriptors(sched, layers: int, sample: list, words_of, chars: list[int], policy: str,
                         device_ms_per_cycle: float) -> list[dict]:
    """Descriptors of sentences not yet run, for planning: their characters and tokens, and the
    worst case of everything else (every layer, two phases, a switch for the lai policies):
    the case a latency target is set for. `words_of(encoded)` gives the embedding record words."""
    out = []
    for enc, n_chars in zip(sample, chars):
        words = words_of(enc)
        cycles = sched.phase1_cycles(words) + sched.phase2_cycles(len(words), layers - 1)
        out.append({"chars": n_chars, "tokens": len(words), "exit_layer": layers, "phases": 2,
                    "switches": int(policy.startswith("lai")), "device_ms": cycles * device_ms_per_cycle})
    return out
