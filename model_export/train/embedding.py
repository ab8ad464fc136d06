"""The shared word-embedding table: a low-rank projection of vectors from the teacher,
magnitude-pruned and frozen. All tasks use this one table (EdgeBERT keeps it in non-volatile
memory; the FPGA design keeps it in DDR).

Two sources of vectors (config `embedding.source`):
  svd     the teacher's pretrained input word embeddings (the default, and the shipped table);
  static  the teacher's output for each vocabulary token on its own (the distillation step of
          model2vec, Tulkens & van Dongen 2024): context-free vectors that have passed through
          all of the teacher's layers.

Stored bitmask-sparse: a row-major bitmask of non-zeros and the packed non-zero values (fp16).
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch

from edgebert.core.tokenization import CLS_ID, SEP_ID
from edgebert.train.pruning import magnitude_mask

FORMAT = "edgebert-embedding-v1"
SOURCES = ("svd", "static")


def low_rank_basis(teacher_table: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and top-`rank` right singular vectors of the centred teacher table."""
    mean = teacher_table.mean(0)
    _, _, vh = torch.linalg.svd(teacher_table - mean, full_matrices=False)
    return mean, vh[:rank].T


def build_table(vectors: torch.Tensor, rank: int, sparsity: float,
                rms: float | None = None) -> torch.Tensor:
    """Project to `rank` dims (principal components), optionally rescale to root-mean-square
    `rms`, prune by magnitude, and round to fp16 (the stored precision)."""
    mean, basis = low_rank_basis(vectors, rank)
    table = (vectors - mean) @ basis
    if rms is not None:
        table = table * (rms / table.pow(2).mean().sqrt())
    table = table * magnitude_mask(table, sparsity)
    return table.half().float()


@torch.no_grad()
def static_vectors(encoder, vocab_size: int, batch_size: int = 1024) -> torch.Tensor:
    """Each vocabulary token alone through `encoder` (a transformers BERT model), as
    [SEP] token [CLS] (the order model2vec found to work best), its last hidden states averaged
    over the three positions: (vocab_size, hidden)."""
    encoder.eval()
    out = torch.empty(vocab_size, encoder.config.hidden_size)
    for start in range(0, vocab_size, batch_size):
        ids = torch.arange(start, min(start + batch_size, vocab_size))
        x = torch.stack([torch.full_like(ids, SEP_ID), ids, torch.full_like(ids, CLS_ID)], 1)
        h = encoder(input_ids=x, attention_mask=torch.ones_like(x), token_type_ids=torch.zeros_like(x))
        out[start:start + len(ids)] = h.last_hidden_state.mean(1)
    return out


def make_table(source: str, word_embeddings: torch.Tensor, rank: int, sparsity: float,
               encoder=None) -> torch.Tensor:
    """The frozen table from `source` (see the module's docstring). The static table is scaled to
    the root-mean-square of the svd projection, so the learned position and token-type tables
    start at the same relative scale with either."""
    if source not in SOURCES:
        raise ValueError(f"embedding.source {source!r}: choose from {', '.join(SOURCES)}")
    if source == "svd":
        return build_table(word_embeddings, rank, sparsity)
    if encoder is None:
        raise ValueError("embedding.source 'static' needs the teacher's pretrained encoder")
    mean, basis = low_rank_basis(word_embeddings, rank)
    rms = float(((word_embeddings - mean) @ basis).pow(2).mean().sqrt())
    return build_table(static_vectors(encoder, word_embeddings.shape[0]), rank, sparsity, rms)


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
