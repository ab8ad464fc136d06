"""Which artifact a run used: the sha256 of its manifest. The manifest indexes every blob with
its own sha256 and the loader checks each blob against it, so the manifest's checksum names the
whole artifact. Run logs record it, and reports find the artifact again by it."""
from __future__ import annotations

import hashlib
from pathlib import Path

from edgebert.accel.artifact import MANIFEST, ArtifactError
from edgebert.core.paths import DEFAULT_MODEL_DIR

ARTIFACT_SUBDIR = "accel"


def artifact_dir(model_dir: str | Path | None = None) -> Path:
    """The artifact folder of a model package folder (default models/tiny)."""
    return Path(model_dir or DEFAULT_MODEL_DIR) / ARTIFACT_SUBDIR


def artifact_sha256(path: str | Path) -> str:
    """The checksum of the artifact folder `path`."""
    manifest = Path(path) / MANIFEST
    if not manifest.is_file():
        raise ArtifactError(f"no accelerator artifact in {path} (missing {MANIFEST})")
    return hashlib.sha256(manifest.read_bytes()).hexdigest()


def find_artifact(sha256: str, model_dirs) -> tuple[Path | None, dict[str, str]]:
    """The artifact folder among `model_dirs` whose checksum is `sha256` (None when none is),
    and the checksum of every folder looked at (for a message naming what was found)."""
    seen = {}
    for d in dict.fromkeys(Path(m) for m in model_dirs):
        path = artifact_dir(d)
        if not (path / MANIFEST).is_file():
            continue
        seen[str(path)] = artifact_sha256(path)
        if seen[str(path)] == sha256:
            return path, seen
    return None, seen
