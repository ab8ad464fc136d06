"""Model and training configurations, read from JSON files under `configs/`."""
from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

from edgebert.core.errors import InputError, MissingFileError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


@dataclass(frozen=True)
class ModelConfig:
    name: str
    vocab_size: int
    embed_dim: int     # E: factorized embedding width
    hidden: int        # H
    heads: int
    ffn: int
    layers: int        # uses of the one shared transformer layer
    max_len: int       # S: longest sentence the accelerator buffers hold
    span_ramp: int     # R: width of the adaptive-span soft ramp, in positions
    num_labels: int = 2
    type_vocab: int = 2
    layer_norm_eps: float = 1e-5

    def __post_init__(self):
        if self.hidden % self.heads:
            raise InputError(f"hidden {self.hidden} is not divisible by heads {self.heads}")
        for f in ("embed_dim", "hidden", "heads", "ffn", "layers", "max_len", "span_ramp"):
            if getattr(self, f) <= 0:
                raise InputError(f"model config {self.name!r}: {f} must be positive")

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def load_model_config(name_or_path: str | dict, **overrides) -> ModelConfig:
    """A named config (`tiny`, `edge`, `paper`), a path to a JSON file, or the config itself (a
    dict, as a training config may carry it inline)."""
    if isinstance(name_or_path, dict):
        missing = [f.name for f in fields(ModelConfig) if f.default is MISSING and f.name not in name_or_path]
        if missing:
            raise InputError(f"inline model config lacks {', '.join(missing)}")
        return ModelConfig.from_dict({**name_or_path, **overrides})
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / "model" / f"{name_or_path}.json"
    if not path.is_file():
        known = sorted(p.stem for p in (CONFIG_DIR / "model").glob("*.json"))
        raise InputError(f"unknown model config {name_or_path!r}; known: {', '.join(known)}")
    d = json.loads(path.read_text())
    d.update(overrides)
    return ModelConfig.from_dict(d)


def load_train_config(path: str | Path) -> dict:
    """A training run's settings (task, model config, data and stage hyper-parameters)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"training config not found: {path}")
    cfg = json.loads(path.read_text())
    for key in ("task", "model", "seed", "stages"):
        if key not in cfg:
            raise InputError(f"{path}: missing key {key!r}")
    return cfg
