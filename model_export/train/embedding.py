"""The shared word-embedding table: a low-rank projection of the teacher's pretrained word
embeddings, magnitude-pruned and frozen. All tasks use this one table (EdgeBERT keeps it in
non-volatile memory; the FPGA design keeps it in DDR).

Stored bitmask-sparse: a row-major bitmask of non-zeros and the packed non-zero values (fp16).
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch

from edgebert.train.pruning import magnitude_mask

FORMAT = "edgebert-embedding-v1"


def low_rank_basis(teacher_table: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and top-`rank` right singular vectors of the centred teacher table."""
    mean = teacher_table.mean(0)
    _, _, vh = torch.linalg.svd(teacher_table - mean, full_matrices=False)
    return mean, vh[:rank].T


def build_table(teacher_table: torch.Tensor, rank: int, sparsity: float) -> torch.Tensor:
    """Project to `rank` dims, prune by magnitude, and round to fp16 (the stored precision)."""
    mean, basis = low_rank_basis(teacher_table, rank)
    table = (teacher_table - mean) @ basis
    table = table * magnitude_mask(table, sparsity)
    return table.half().float()


def save_table(table: torch.Tensor, path: Path) -> str:
    """Write the table bitmask-sparse; returns the file's sha256."""
    arr = table.numpy().astype(np.float16)
    mask = arr != 0
    buf = io.BytesIO()
    np.savez(buf, format=np.array(FORMAT), shape=np.array(arr.shape),
             bitmask=np.packbits(mask.ravel()), values=arr[mask])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return sha256_file(path)


def load_table(path: Path, expected_sha256: str | None = None) -> torch.Tensor:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"embedding table not found: {path}")
    if expected_sha256 is not None and sha256_file(path) != expected_sha256:
        raise ValueError(f"embedding table {path} does not match the checksum the task expects "
                         f"({expected_sha256[:12]}...): corrupt or from another model")
    try:
        with np.load(path) as z:
            if str(z["format"]) != FORMAT:
                raise ValueError(f"{path}: format {z['format']!s}, expected {FORMAT}")
            shape = tuple(int(s) for s in z["shape"])
            mask = np.unpackbits(z["bitmask"], count=int(np.prod(shape))).astype(bool)
            values = z["values"]
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"cannot read embedding table {path}: {e}") from e
    if values.size != mask.sum():
        raise ValueError(f"{path}: {values.size} values for {mask.sum()} bitmask entries")
    dense = np.zeros(mask.size, dtype=np.float32)
    dense[mask] = values.astype(np.float32)
    return torch.from_numpy(dense.reshape(shape))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
