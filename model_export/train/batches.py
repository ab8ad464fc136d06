"""Length-bucketed training batches of encoded sentences (torch tensors)."""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from edgebert.core.tokenization import PAD_ID, Encoded


@dataclass
class Batch:
    ids: torch.Tensor          # (B, S) int64, PAD_ID beyond each length
    token_types: torch.Tensor  # (B, S)
    lengths: torch.Tensor      # (B,)
    index: torch.Tensor        # (B,) position of each row in the source list

    @property
    def pad_mask(self) -> torch.Tensor:
        """(B, S) True on real tokens."""
        s = self.ids.shape[1]
        return torch.arange(s, device=self.lengths.device)[None, :] < self.lengths[:, None]

    def to(self, device) -> Batch:
        return Batch(self.ids.to(device), self.token_types.to(device), self.lengths.to(device),
                     self.index.to(device))


def collate(encoded: list[Encoded], index: list[int]) -> Batch:
    import torch
    s = max(len(encoded[i]) for i in index)
    ids = torch.full((len(index), s), PAD_ID, dtype=torch.long)
    types = torch.zeros((len(index), s), dtype=torch.long)
    for row, i in enumerate(index):
        e = encoded[i]
        ids[row, :len(e)] = torch.tensor(e.ids)
        types[row, :len(e)] = torch.tensor(e.token_types)
    lengths = torch.tensor([len(encoded[i]) for i in index])
    return Batch(ids, types, lengths, torch.tensor(index))


def bucketed_batches(encoded: list[Encoded], batch_size: int, shuffle: bool,
                     rng: random.Random | None = None, bucket_factor: int = 50,
                     weights: list[float] | None = None) -> list[list[int]]:
    """Index lists of similar-length sentences so that padding per batch stays small.

    Chunks of `batch_size * bucket_factor` random indices are sorted by length and cut into
    batches; the batches are then shuffled. Without shuffling, batches follow length order.
    With `weights`, an epoch is len(encoded) indices drawn with replacement in proportion to them.
    """
    order = list(range(len(encoded)))
    if not shuffle:
        order.sort(key=lambda i: len(encoded[i]))
        return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
    rng = rng or random.Random(0)
    if weights is not None:
        order = rng.choices(order, weights=weights, k=len(order))
    rng.shuffle(order)
    chunk = batch_size * bucket_factor
    batches = []
    for c in range(0, len(order), chunk):
        part = sorted(order[c:c + chunk], key=lambda i: len(encoded[i]))
        batches += [part[k:k + batch_size] for k in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches
