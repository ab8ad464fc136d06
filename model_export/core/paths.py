"""Where the repository keeps what ships with it, and where training data comes from.

Everything that tests, the demo and the docs need ships in the repository (dev sets, EdgeBERT's
released exit data, the shipped models). Training sets do not: they are read from `--data` or
from the folder named by the environment variable `EDGEBERT_DATA`.
"""
from __future__ import annotations

import os
from pathlib import Path

from edgebert.core.errors import MissingFileError

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_DATA = REPO_ROOT / "data"
SHIPPED_GLUE = SHIPPED_DATA / "glue"
DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "tiny"
DATA_ENV = "EDGEBERT_DATA"


class TrainingDataError(MissingFileError):
    """Training data was asked for and no data folder was given or found."""


def training_data_dir(data_dir: str | Path | None = None) -> Path:
    """The folder that holds `glue/<TASK>/train.tsv` (and `reviews/` for corpus distillation):
    `data_dir` when given, else `$EDGEBERT_DATA`."""
    chosen = data_dir or os.environ.get(DATA_ENV)
    if not chosen:
        raise TrainingDataError(
            "training data is not in the repository: pass --data DIR or set "
            f"{DATA_ENV}=DIR, where DIR holds glue/SST-2/train.tsv and glue/MRPC/train.tsv "
            "(the GLUE files as `download_glue_data.py` writes them: tab-separated, one header "
            "line; GLUE: https://gluebenchmark.com/tasks)")
    path = Path(chosen)
    if not path.is_dir():
        raise TrainingDataError(f"training data folder {path} does not exist (from "
                                f"{'--data' if data_dir else DATA_ENV})")
    return path


def training_glue_dir(data_dir: str | Path | None = None) -> Path:
    """The GLUE folder inside the training data folder; a folder that is itself the GLUE folder
    (holds SST-2/ or MRPC/) is accepted as it is."""
    path = training_data_dir(data_dir)
    if (path / "glue").is_dir():
        return path / "glue"
    return path
