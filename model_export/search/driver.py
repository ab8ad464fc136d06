"""The search on Ray Tune: sample feasible points, run each as a trial (edgebert.search.trial)
under an early-stopping scheduler, resume a stopped search from its folder, and build the Pareto front
from the trials' own reports.

The folder holds `plan.json` (the settings and the points, fixed at the first run), `ray/` (the
Tune experiment), `trials/<id>/` (each trial's run folder), `embeddings/` (tables of widths the
teacher run lacks), and the results: `pareto.json`, `pareto.png`, `best/`."""
from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

from edgebert.core.errors import InputError
from edgebert.search import pareto
from edgebert.search.space import FIELDS, SPACE_JSON, load_space, sample_points, shipped_dims
from edgebert.search.trial import full_config, run_trial, trial_config

EXPERIMENT = "search"


def plan(out: Path, settings: dict, make_points) -> dict:
    """The search's plan: read from `out` when a search is there (its settings must agree),
    else made now and written."""
    path = out / "plan.json"
    if path.is_file():
        old = json.loads(path.read_text())
        differ = [k for k in settings if old["settings"].get(k) != settings[k]]
        if differ:
            raise InputError(f"{out} holds a search with other settings ({', '.join(differ)}): "
                             "use another --out, or the same settings to resume it")
        return old
    points, rejected, shipped = make_points()
    out.mkdir(parents=True, exist_ok=True)
    made = {"settings": settings, "points": points, "rejected": rejected, "shipped": shipped}
    path.write_text(json.dumps(made, indent=1))
    return made


def score(screen: dict) -> float:
    """What the scheduler ranks trials by: the early-exit validation accuracy, less 1 while
    the p99 latency misses the target (so the trials that cannot meet it stop first)."""
    return screen["accuracy"] - (0.0 if screen["meets_target"] else 1.0)


def trainable(config: dict, out: str, glue_dir: str | None):
    """One trial in a Ray worker: each of stage 1's validations, measured on the board (its
    screen), is a report to the scheduler; the last report is the screen step's."""
    from ray import tune
    cfg = config["trial"]

    def report(s: dict, phase: str):
        tune.report({"score": score(s), "phase": phase, "accuracy": s["accuracy"], "latency_ms": s["latency_ms"],
                     "energy_uj": s["energy_uj"], "fits": s["fits"], "meets_target": s["meets_target"]})
    done = run_trial(cfg, Path(out) / "trials" / cfg["search"]["id"], Path(glue_dir) if glue_dir else None,
                     lambda result: report(result["screen"], "stage1"))
    report(done["screen"], "screen")


def _progress():
    from ray import tune

    class Progress(tune.Callback):
        """One line per trial as it ends."""
        def __init__(self):
            self.ended = 0

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.ended += 1
            m, p = trial.last_result, trial.config["trial"]["search"]["point"]
            dims = " ".join(f"{k}={p[k]}" for k in FIELDS)
            if m.get("phase") == "screen":
                what = (f"accuracy {m['accuracy']:.3f}  p99 {m['latency_ms']:.3f} ms  {m['energy_uj']:.2f} uJ  "
                        f"{'meets' if m['meets_target'] and m['fits'] else 'misses'} the target")
            else:
                what = (f"stopped early at accuracy {m.get('accuracy', float('nan')):.3f}, "
                        f"p99 {m.get('latency_ms', float('nan')):.3f} ms")
            print(f"[{self.ended}/{len(trials)}] {dims}: {what}", file=sys.stderr, flush=True)

        def on_trial_error(self, iteration, trials, trial, **info):
            self.ended += 1
            print(f"[{self.ended}/{len(trials)}] trial {trial.trial_id} failed", file=sys.stderr, flush=True)
    return Progress()


def _trial_dirname(trial) -> str:
    return f"trial-{trial.config['trial']['search']['id']}"


SCHEDULERS = ("pareto", "asha", "none")


def make_scheduler(name: str, reports: int):
    """`pareto`: successive halving with a Pareto rule (edgebert.search.scheduler); `asha`: Ray's
    ASHA on `score`; `none`: every trial runs its whole budget."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from edgebert.search.scheduler import ParetoRungs, rungs
    if name == "pareto":
        return ParetoRungs(rungs(reports))
    if name == "asha":
        return ASHAScheduler(time_attr="training_iteration", max_t=reports + 1, grace_period=2, reduction_factor=2)
    if name == "none":
        return FIFOScheduler()
    raise InputError(f"unknown scheduler {name!r}; choose from {', '.join(SCHEDULERS)}")


def run_tune(out: Path, trials: list[dict], reports: int, glue_dir: Path | None, address: str | None,
             cpus_per_trial: int, scheduler: str = "pareto") -> dict:
    """Runs (or resumes) the Tune experiment in `out`/ray; returns how it went."""
    import ray
    from ray import tune
    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    fn = tune.with_resources(partial(trainable, out=str(out.resolve()), glue_dir=str(glue_dir) if glue_dir else None),
                             {"cpu": cpus_per_trial})
    storage = (out / "ray").resolve()
    exp = storage / EXPERIMENT
    try:
        if tune.Tuner.can_restore(str(exp)):
            tuner, resumed = tune.Tuner.restore(str(exp), trainable=fn, resume_errored=True), True
        else:
            tuner, resumed = tune.Tuner(
                fn, param_space={"trial": tune.grid_search(trials)},
                tune_config=tune.TuneConfig(metric="score", mode="max", scheduler=make_scheduler(scheduler, reports),
                                            trial_dirname_creator=_trial_dirname),
                run_config=tune.RunConfig(storage_path=str(storage), name=EXPERIMENT, verbose=0,
                                          callbacks=[_progress()])), False
        grid = tuner.fit()
        errors = sum(1 for r in grid if r.error is not None)
    finally:
        ray.shutdown()
    return {"resumed": resumed, "errors": errors}


def search(board: str, target_ms: float, trials: int, out: Path, teacher_run: Path, glue_dir: Path | None,
           steps: int, reports: int, seed: int, dev_lengths, address: str | None = None,
           cpus_per_trial: int = 1, shipped=lambda: None, space_path: Path = SPACE_JSON,
           scheduler: str = "pareto") -> dict:
    """The whole search; returns the result object the command prints. `shipped()`: the shipped
    model's reference point (edgebert.search.reference), measured once with the plan."""
    out = Path(out)
    settings = {"board": board, "latency_target_ms": target_ms, "trials": trials, "steps": steps,
                "reports": reports, "seed": seed, "teacher_run": str(teacher_run), "scheduler": scheduler}
    space = load_space(board, space_path)
    def make():
        points = sample_points(space, trials, seed, board, target_ms, dev_lengths, [shipped_dims(board)])
        return (*points, shipped())
    made = plan(out, settings, make)
    shipped = made["shipped"]
    if not made["points"]:
        raise InputError(f"no point of the {board} space can meet {target_ms} ms (all {len(made['rejected'])} "
                         "drawn were rejected before training)")
    tables = out / "embeddings"
    configs = [trial_config(p, board, target_ms, teacher_run, tables, steps, reports) for p in made["points"]]
    build_tables(configs)
    how = run_tune(out, configs, reports, glue_dir, address, cpus_per_trial, scheduler)
    results = collect(out, configs)
    front = pareto.front([r for r in results if r["fits"] and r["meets_target"]])
    best = pareto.best(front)
    if best is not None:
        write_best(out / "best", best, board)
    pareto.plot(results, front, out / "pareto.png", board, target_ms, shipped)
    summary = {"engine": "ray", "board": board, "latency_target_ms": target_ms, "trials": len(configs),
               "finished": len(results), "stopped_early": len(configs) - len(results) - how["errors"],
               "errors": how["errors"], "resumed": how["resumed"],
               "rejected_before_training": len(made["rejected"]), "scheduler": scheduler,
               "budget": {"steps": steps, "reports": reports},
               "pareto": [{k: v for k, v in p.items() if k != "trial_config"} for p in front],
               "best": best and best["id"], "shipped": shipped, "out": str(out)}
    (out / "pareto.json").write_text(json.dumps(summary, indent=1))
    return summary


def build_tables(configs: list[dict]) -> None:
    """The frozen tables of widths the teacher run lacks, built once before the trials (two
    trials building the same file at once would race)."""
    from edgebert.core.paths import REPO_ROOT
    from edgebert.train import teacher
    from edgebert.train.embedding import build_table, save_table
    need = {(c["embedding"]["path"], c["model"]["embed_dim"], c["embedding"]["sparsity"]) for c in configs}
    words = None
    for path, width, sparsity in sorted(need):
        target = REPO_ROOT / path
        if target.is_file():
            continue
        words = teacher.pretrained_embeddings()["word"] if words is None else words
        target.parent.mkdir(parents=True, exist_ok=True)
        save_table(build_table(words, width, sparsity), target)


def collect(out: Path, configs: list[dict]) -> list[dict]:
    """Every trial that reached its screen step, from its run folder's report."""
    results = []
    for c in configs:
        report = out / "trials" / c["search"]["id"] / "reports" / "screen.json"
        if report.is_file():
            s = json.loads(report.read_text())
            results.append({"id": c["search"]["id"], "config": c["search"]["point"], "accuracy": s["accuracy"],
                            "accuracy_all_layers": s["accuracy_all_layers"], "dev_accuracy": s["dev"]["accuracy"],
                            "latency_ms": s["latency_ms"], "energy_uj": s["energy_uj"], "fits": s["fits"],
                            "meets_target": s["meets_target"], "avg_exit_layer": s["avg_exit_layer"],
                            "resources": s["resources"], "trial_config": c})
    return results


def write_best(folder: Path, best: dict, board: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    trial = best["trial_config"]
    (folder / "trial_config.json").write_text(json.dumps(trial, indent=2) + "\n")
    (folder / "train_config.json").write_text(json.dumps(full_config(trial, board), indent=2) + "\n")
