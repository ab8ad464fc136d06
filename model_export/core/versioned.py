"""Versioned JSON manifests (task packages, the export artifact)."""
from __future__ import annotations

import json
from pathlib import Path


def read_versioned_json(path: Path, fmt: str, error=ValueError) -> dict:
    """A JSON manifest whose "format" field must be `fmt`; `error` names each problem."""
    try:
        manifest = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise error(f"{path} is not valid JSON: {e}") from e
    if manifest.get("format") != fmt:
        raise error(f"{path}: format {manifest.get('format')!r}, expected {fmt!r}")
    return manifest
