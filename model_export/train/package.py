"""The trained-model package: one shared embedding table and, per task, its weights and a
manifest (config, threshold, both exit predictors, spans, sparsity, checksums).

    models/<config>/embedding.npz          shared by every task (one file, one checksum)
    models/<config>/<task>/weights.safetensors
    models/<config>/<task>/task.json
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from edgebert.accel.predictor import Binned
from edgebert.core.config import ModelConfig
from edgebert.core.errors import InputError, MissingFileError
from edgebert.core.tasks import get_task
from edgebert.core.versioned import read_versioned_json
from edgebert.train.embedding import load_table, sha256_file
from edgebert.train.model import EdgeBert

FORMAT = "edgebert-task-v1"
EMBEDDING_FILE = "embedding.npz"


def save_task(model: EdgeBert, task: str, model_dir: Path, threshold: float,
              predictor_table: np.ndarray, extra: dict, binned: Binned) -> Path:
    model_dir = Path(model_dir)
    emb = model_dir / EMBEDDING_FILE
    if not emb.is_file():
        raise MissingFileError(f"save the shared embedding table to {emb} before the task")
    task_dir = model_dir / task
    task_dir.mkdir(parents=True, exist_ok=True)
    weights = task_dir / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in model.task_state().items()}, str(weights))
    manifest = {
        "format": FORMAT, "task": task, "config": model.cfg.to_dict(),
        "threshold": threshold, "predictor_table": np.asarray(predictor_table).round(6).tolist(),
        "binned_predictor": binned.to_dict(),
        "spans": model.spans(),
        "embedding": {"file": f"../{EMBEDDING_FILE}", "sha256": sha256_file(emb)},
        "weights": {"file": weights.name, "sha256": sha256_file(weights)},
        **extra,
    }
    (task_dir / "task.json").write_text(json.dumps(manifest, indent=1))
    return task_dir


def read_manifest(model_dir: Path, task: str) -> dict:
    get_task(task)
    path = Path(model_dir) / task / "task.json"
    if not path.is_file():
        raise MissingFileError(f"no trained {task} model in {model_dir} (missing {path})")
    return read_versioned_json(path, FORMAT)


def load_task(model_dir: Path, task: str) -> tuple[EdgeBert, dict]:
    """The task's model (eval mode) and manifest; checksums are verified."""
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir, task)
    task_dir = model_dir / task
    cfg = ModelConfig.from_dict(manifest["config"])
    table = load_table(task_dir / manifest["embedding"]["file"], manifest["embedding"]["sha256"])
    weights = task_dir / manifest["weights"]["file"]
    if not weights.is_file() or sha256_file(weights) != manifest["weights"]["sha256"]:
        raise InputError(f"{weights} is missing or does not match its checksum in task.json")
    model = EdgeBert(cfg, table)
    model.load_state_dict(load_file(str(weights)), strict=True)
    return model.eval(), manifest


def predictor_table(manifest: dict) -> np.ndarray:
    return np.asarray(manifest["predictor_table"], dtype=np.float32)


def binned_predictor(manifest: dict) -> Binned:
    if "binned_predictor" not in manifest:
        raise InputError(f"the {manifest['task']} package has no binned exit predictor; fit it with "
                         f"`edgebert predictor --task {manifest['task']} --refit binned --write`")
    return Binned.from_dict(manifest["binned_predictor"])


def load_checkpoint(path: Path, cfg: ModelConfig, table: torch.Tensor) -> EdgeBert:
    model = EdgeBert(cfg, table)
    model.load_state_dict(load_file(str(path)), strict=True)
    return model


def save_checkpoint(model: EdgeBert, path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.task_state().items()}, str(path))
