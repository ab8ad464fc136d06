"""Deployment as a list of named steps (export -> verify -> run_base -> run_ee -> run_lai ->
run_lai-slack -> run_lai-binned -> run_multitask -> projection -> report), the counterpart of
the training pipeline.

run_multitask streams the dev sentences of every task of the artifact (the flow's task first),
interleaved, through one fresh accelerator under `lai`, switching task at run time.

Each step writes `<out>/<step>.json`: the flow's inputs (artifact checksum, task, board, latency
target, sentence limit), the step's result and its wall time. A step whose report exists with
the same inputs, and whose output files exist, is skipped, so an interrupted flow resumes where
it stopped; a run step that was cut short resumes its own append-only log. Once a step has run,
every step after it runs too, since each may read what an earlier one wrote.
"""
from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path

from edgebert.accel.artifact import load_artifact
from edgebert.accel.asic12nm import EnergyParams
from edgebert.accel.checksum import artifact_dir, artifact_sha256
from edgebert.analysis.multitask import multitask_markdown, multitask_summary
from edgebert.analysis.report import build_report, projection
from edgebert.analysis.sweep import threshold_sweep
from edgebert.core.errors import DeviceError, InputError
from edgebert.core.tasks import get_task
from edgebert.core.tokenization import Tokenizer
from edgebert.runtime.boards import get_board
from edgebert.runtime.inputs import max_tokens, task_items
from edgebert.runtime.multitask import interleave, multitask_header, run_multitask
from edgebert.runtime.runner import latency_target, run, run_header
from edgebert.sim.backend import CSimBackend
from edgebert.sim.verify import verify

POLICIES = ("base", "ee", "lai", "lai-slack", "lai-binned")
MULTITASK_POLICY = "lai"
MULTITASK_RUN_LENGTH = 1        # alternate the tasks sentence by sentence: a switch before each
STEPS = ("export", "verify", *(f"run_{p}" for p in POLICIES), "run_multitask", "projection", "report")
# The inputs a step's result depends on (the others depend on all): a new latency target reruns
# the runs and what follows, not the artifact check or the bit-exact verification.
STEP_INPUTS = {"export": ("artifact_sha256", "task"), "verify": ("artifact_sha256", "task", "board", "limit")}


class VerifyError(DeviceError):
    """The C-simulation differs from the golden model, bit for bit or in cycles."""


class LoadCountingBackend(CSimBackend):
    """The C-simulation keeping its load commands' counters (a task switch's cycles) for the log."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.load_counters: dict[str, dict] = {}

    def _load_shared(self, image):
        self.load_counters["shared"] = self.acc.load_shared(image)

    def _load_task(self, name, image):
        self.load_counters["task"] = self.acc.load_task(image)


class Flow:
    """One deployment of a packaged model on the C-simulated board, into the folder `out`."""

    def __init__(self, out: Path, task: str = "sst2", target_ms: float | None = None,
                 limit: int | None = None, model_dir: Path | None = None, board: str = "sim",
                 progress: bool = True):
        self.out, self.model_dir, self.progress = Path(out), model_dir, progress
        get_task(task)
        self.board = get_board(board)
        self.target = latency_target(self.board, target_ms)
        if limit is not None and limit < 1:
            raise InputError(f"the sentence limit must be >= 1, got {limit}")
        self.artifact = artifact_dir(model_dir)
        self.inputs = {"artifact_sha256": artifact_sha256(self.artifact), "task": task,
                       "board": self.board.name, "target_ms": self.target, "limit": limit}
        self.task, self.limit = task, limit
        self._hw = self._items = self._backend = self._all = None

    # ---- what the steps share, made when first needed ------------------------------------
    @property
    def hw(self):
        if self._hw is None:
            self._hw = load_artifact(self.artifact, [self.task])[self.task]
        return self._hw

    @property
    def items(self):
        if self._items is None:
            tok = Tokenizer(max_tokens(self.hw, self.board.name))
            self._items = task_items(self.task, tok, self.limit)
        return self._items

    @property
    def all_tasks(self) -> dict:
        """Every task of the artifact, the flow's first."""
        if self._all is None:
            tasks = load_artifact(self.artifact)
            self._all = {self.task: tasks.pop(self.task), **dict(sorted(tasks.items()))}
        return self._all

    @property
    def backend(self) -> CSimBackend:
        if self._backend is None:
            self._backend = CSimBackend(self.board)
        return self._backend

    def log_path(self, policy: str) -> Path:
        return self.out / "runs" / f"{policy}.jsonl"

    def logs(self) -> list[Path]:
        return [self.log_path(p) for p in POLICIES]

    def outputs(self, step: str) -> list[Path]:
        """Files a finished step leaves; a step whose files are gone is run again."""
        if step.startswith("run_"):
            return [self.log_path(step[4:])]
        return {"projection": [self.out / "sweep.json"],
                "report": [self.out / "report.md", self.out / "summary.json"]}.get(step, [])

    # ---- the steps ------------------------------------------------------------------------
    def step_export(self) -> dict:
        """The packaged artifact, checked (every blob against its checksum), not rebuilt."""
        tasks = load_artifact(self.artifact)
        if self.task not in tasks:
            raise InputError(f"artifact {self.artifact} has no task {self.task!r} (it has {', '.join(sorted(tasks))})")
        return {"artifact": str(self.artifact), "sha256": self.inputs["artifact_sha256"], "tasks": sorted(tasks),
                "threshold_q16": tasks[self.task].threshold_q16, "max_len": tasks[self.task].cfg.max_len}

    def step_verify(self) -> dict:
        """The C-simulation against the golden model on the flow's sentences."""
        ok = [it for it in self.items if it.encoded]
        out = verify(self.hw, [it.encoded for it in ok], [it.label for it in ok], progress=self.progress)
        if out["mismatches"] or out["cycle_mismatches"]:
            raise VerifyError(f"the C-simulation differs from the golden model on {out['mismatches']} of "
                              f"{out['n']} sentences ({out['cycle_mismatches']} in cycles); first: "
                              f"{out['first_mismatches']}")
        return out

    def _run(self, policy: str) -> dict:
        source = "dev" if self.limit is None else f"dev[:{self.limit}]"
        header = run_header(self.hw, policy, self.target, "csim", self.board, source,
                            self.inputs["artifact_sha256"])
        summary = run(self.backend, self.hw, self.items, policy, self.target, self.log_path(policy), header,
                      progress=self.progress)
        return {**summary, "log": str(self.log_path(policy))}

    def step_run_multitask(self) -> dict:
        """Every task's sentences interleaved through one fresh accelerator (its first load is the
        whole set-up; each later task switch moves the task image only)."""
        source = "dev" if self.limit is None else f"dev[:{self.limit}]"
        streams = {t: task_items(t, Tokenizer(max_tokens(hw, self.board.name)), self.limit)
                   for t, hw in self.all_tasks.items()}
        header = multitask_header(self.all_tasks, MULTITASK_POLICY, self.target, "csim", self.board, source,
                                  self.inputs["artifact_sha256"], MULTITASK_RUN_LENGTH)
        with LoadCountingBackend(self.board) as backend:
            summary = run_multitask(backend, self.all_tasks, interleave(streams, MULTITASK_RUN_LENGTH),
                                    MULTITASK_POLICY, self.target, self.log_path("multitask"), header,
                                    progress=self.progress)
        return {**summary, "log": str(self.log_path("multitask"))}

    def step_projection(self) -> dict:
        """Accuracy, exit and energy per threshold, and each policy's run through the 12 nm model."""
        p = EnergyParams.load()
        sweep = threshold_sweep(self.hw, self.items, self.board.array_n, p, progress=self.progress)
        (self.out / "sweep.json").write_text(json.dumps(sweep, indent=1))
        return {"sweep": str(self.out / "sweep.json"), "thresholds": len(sweep),
                **projection(self.logs(), p, self._model_dirs())}

    def step_report(self) -> dict:
        sweep = json.loads((self.out / "sweep.json").read_text())
        p = EnergyParams.load()
        summary = build_report(self.logs(), self.out, p, sweep, model_dirs=self._model_dirs())
        # The multi-task section joins what the single-task report wrote.
        summary["multitask"] = multitask_summary(self.log_path("multitask"), self.all_tasks, p)
        written = json.loads((self.out / "summary.json").read_text())
        (self.out / "summary.json").write_text(json.dumps({**written, "multitask": summary["multitask"]}, indent=1))
        with open(self.out / "report.md", "a", encoding="utf-8") as f:
            f.write("\n" + multitask_markdown(summary["multitask"]))
        summary.pop("energy_vs_target", None)
        return summary

    def _model_dirs(self) -> list[Path]:
        return [self.model_dir] if self.model_dir else []

    # ---- running them -----------------------------------------------------------------------
    def report_path(self, step: str) -> Path:
        return self.out / f"{step}.json"

    def step_inputs(self, step: str) -> dict:
        keys = STEP_INPUTS.get(step, tuple(self.inputs))
        return {k: self.inputs[k] for k in keys}

    def done(self, step: str) -> dict | None:
        """The step's result when its report holds the same inputs and its files exist."""
        path = self.report_path(step)
        if not path.is_file() or not all(p.is_file() for p in self.outputs(step)):
            return None
        try:
            report = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None                              # cut short while written: run it again
        return report.get("result") if report.get("inputs") == self.step_inputs(step) else None

    def run_step(self, step: str) -> tuple[dict, float]:
        """Run one step and write its report; returns its result and wall time (s)."""
        if step.startswith("run_"):
            if self.report_path(step).is_file():     # a finished log of other inputs: start afresh
                self.log_path(step[4:]).unlink(missing_ok=True)
        if step.startswith("run_") and step[4:] in POLICIES:
            fn = partial(self._run, step[4:])
        else:
            fn = getattr(self, f"step_{step}")
        t0 = time.time()
        result = fn()
        wall = round(time.time() - t0, 2)
        report = {"step": step, "inputs": self.step_inputs(step), "result": result, "wall_s": wall}
        tmp = self.report_path(step).with_suffix(".json.tmp")
        tmp.write_text(json.dumps(report, indent=1))
        tmp.replace(self.report_path(step))          # a report is whole or absent
        return result, wall

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def run_flow(out: Path, task: str = "sst2", target_ms: float | None = None, limit: int | None = None,
             model_dir: Path | None = None, steps=STEPS, progress: bool = True, log=None) -> dict:
    """Run the deployment steps, skipping finished ones. Returns which steps ran and which were
    skipped, each step's result, and the report's summary."""
    for s in steps:
        if s not in STEPS:
            raise InputError(f"unknown step {s!r}; steps are {', '.join(STEPS)}")
    flow = Flow(out, task, target_ms, limit, model_dir, progress=progress)
    flow.out.mkdir(parents=True, exist_ok=True)
    status, results = {}, {}
    try:
        for step in steps:
            result = None if "ran" in status.values() else flow.done(step)
            if result is not None:
                status[step], note = "skipped", f"done: {flow.report_path(step)}"
            else:
                result, wall = flow.run_step(step)
                status[step], note = "ran", f"{wall:.1f} s"
            results[step] = result
            if log:
                log(f"{step}: {status[step]} ({note})")
    finally:
        flow.close()
    return {"steps": status, "results": results, "summary": results.get("report")}
