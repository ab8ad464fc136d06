"""A trial: the training pipeline itself, on a config generated for the point. Its stage 1 runs
for the trial's budget on the teacher logits of an existing run (`teacher_from`), and its screen
step measures the result on the board (edgebert.train.screen). So `edgebert train --config
trial_config.json` repeats a trial exactly, and `train_config.json` is the full recipe for the
same point."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from edgebert.core.config import CONFIG_DIR, load_model_config
from edgebert.core.paths import REPO_ROOT
from edgebert.search.space import model_config, point_id, sized
from edgebert.train.reuse import source_config

# What a trial shares with the run whose teacher it reuses (edgebert.train.reuse.AGREE).
SHARED = ("task", "seed", "validation_size", "validation_split", "teacher", "augment")


def recipe(task: str) -> dict:
    """The shipped recipe for `task` (configs/train/<task>_tiny.json)."""
    return json.loads((CONFIG_DIR / "train" / f"{task}_tiny.json").read_text())


def repo_relative(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def embedding_for(point: dict, teacher_run: Path, tables: Path) -> dict:
    """The frozen table: the teacher run's when its width matches, else the search's own."""
    src = source_config(teacher_run)
    if load_model_config(src["model"]).embed_dim == point["embed_dim"]:
        return dict(src["embedding"])
    return {"path": repo_relative(Path(tables) / f"e{point['embed_dim']}.npz"),
            "sparsity": src["embedding"]["sparsity"]}


def trial_config(point: dict, board: str, target_ms: float, teacher_run: Path, tables: Path, steps: int,
                 reports: int, tolerance: float = 0.01) -> dict:
    """The training config of a trial: stage 1 for `steps` steps, validated `reports` times
    (the scheduler's rungs), then the screen step on `board`."""
    src = source_config(teacher_run)
    stage1 = {**recipe(src["task"])["stages"]["stage1"], "encoder_sparsity": point["encoder_sparsity"],
              "steps": steps, "validate_every": 1.0 / reports, "ema": 0.0}
    stage1.pop("epochs", None)
    _, density = sized(point, board)
    return {"task": src["task"], "model": model_config(point).to_dict(),
            **{k: src[k] for k in SHARED if k in src}, "threads": 1,
            "embedding": embedding_for(point, teacher_run, tables), "teacher_from": repo_relative(teacher_run),
            "stages": {"stage1": stage1},
            "screen": {"board": board, "n": point["n"], "weight_density": density,
                       "latency_target_ms": target_ms, "tolerance": tolerance},
            "search": {"point": point, "id": point_id(point)}}


def full_config(trial: dict, board: str) -> dict:
    """The shipped recipe with the trial's model, sparsity, table and teacher: what `edgebert
    train` runs to deploy the point (package in models/search-<board>)."""
    full = copy.deepcopy(recipe(trial["task"]))
    full.update({k: trial[k] for k in ("model", "embedding", "teacher_from", *SHARED) if k in trial})
    full["stages"]["stage1"]["encoder_sparsity"] = trial["stages"]["stage1"]["encoder_sparsity"]
    full["package_dir"] = f"models/search-{board}"
    full["search"] = trial["search"]
    return full


def run_trial(config: dict, folder: Path, glue_dir: Path | None, observer=None) -> dict:
    """Runs (or resumes) the trial in `folder`; returns its screen report and stage 1's."""
    from edgebert.train.pipeline import run_pipeline
    folder.mkdir(parents=True, exist_ok=True)
    summary = run_pipeline(config, folder, glue_dir, ("teacher", "embedding", "distill_data", "stage1", "screen"),
                           observer=observer)
    return {"screen": summary["screen"], "stage1_wall_s": summary["stage1"].get("wall_s")}
