"""Fixtures shared by the whole suite: what ships with the repository (the accelerator artifact,
the task packages), the C-simulation library and the board descriptions.

Everything here is built or loaded once per session and shared, so tests must treat it as
read-only (a test that changes a model restores it). Heavy imports stay inside the fixtures:
this file imports neither torch nor the C-simulation, so the board tier, which runs on a PYNQ
image without torch, can use it too.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from edgebert.core.paths import DEFAULT_MODEL_DIR

ARTIFACT_DIR = DEFAULT_MODEL_DIR / "accel"
SHIPPED_TASKS = ("sst2", "mrpc")


@pytest.fixture(scope="session")
def artifact_dir() -> Path:
    """The shipped accelerator artifact, `models/tiny/accel/` (copy it before changing it)."""
    return ARTIFACT_DIR


@pytest.fixture(scope="session")
def artifact(artifact_dir) -> dict:
    """Every task of the shipped artifact, by name (`edgebert.accel.artifact.HwTask`)."""
    from edgebert.accel.artifact import load_artifact
    return load_artifact(artifact_dir)


@pytest.fixture(scope="session")
def task_packages() -> dict:
    """The shipped task packages, `models/tiny/<task>/`: task -> (torch model, manifest)."""
    from edgebert.train.package import load_task
    return {t: load_task(DEFAULT_MODEL_DIR, t) for t in SHIPPED_TASKS}


@pytest.fixture(scope="session")
def csim_library():
    """`csim_library(variant="native", n=None, defines=None)`: the path of the built C-simulation
    library (g++; cached on disk under build/csim/ and here for the session)."""
    from edgebert.sim.csim import build_library
    built: dict = {}

    def library(variant: str = "native", n: int | None = None, defines: dict | None = None) -> Path:
        key = (variant, n, tuple(sorted((defines or {}).items())))
        if key not in built:
            built[key] = build_library(variant, n, defines)
        return built[key]
    return library


@pytest.fixture(scope="session")
def csim_accelerator(csim_library):
    """`csim_accelerator(variant="native", n=None, defines=None)`: a new C-simulated accelerator
    (its own on-chip state) on the session's library build; closed at the end of the session."""
    from edgebert.sim.csim import CSimAccelerator
    made = []

    def make(variant: str = "native", n: int | None = None, defines: dict | None = None):
        acc = CSimAccelerator(variant, n, library=csim_library(variant, n, defines))
        made.append(acc)
        return acc
    yield make
    for acc in made:
        acc.close()


@pytest.fixture(scope="session")
def board(request):
    """A board description (`edgebert.runtime.boards.Board`): `sim` unless the test parametrizes
    it, `@pytest.mark.parametrize("board", ["zcu104", "pynq-z2"], indirect=True)`."""
    from edgebert.runtime.boards import get_board
    return get_board(getattr(request, "param", "sim"))
