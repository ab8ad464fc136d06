"""Fitting EdgeBERT's exit-predictor table from training-set entropies (torch); its use at
inference is `edgebert.accel.predictor`."""
from __future__ import annotations

import numpy as np

from edgebert.accel.predictor import ROWS, STEP


def fit_table(entropies: np.ndarray, seed: int = 0, epochs: int = 300, lr: float = 1e-3) -> np.ndarray:
    """(100, L-2) table of predicted entropies for layers 2..L-1 from (N, L) training entropies."""
    import torch
    import torch.nn as nn
    entropies = np.asarray(entropies, dtype=np.float32)
    if entropies.ndim != 2 or entropies.shape[1] < 3:
        raise ValueError(f"need an (N, L>=3) entropy matrix, got shape {entropies.shape}")
    torch.manual_seed(seed)
    n_out = entropies.shape[1] - 2
    mlp = nn.Sequential(nn.Linear(1, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                        nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                        nn.Linear(64, n_out))
    x = torch.from_numpy(entropies[:, :1])
    y = torch.from_numpy(entropies[:, 1:-1])
    opt = torch.optim.Adam(mlp.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(256):
            opt.zero_grad()
            nn.functional.mse_loss(mlp(x[idx]), y[idx]).backward()
            opt.step()
    grid = torch.arange(ROWS, dtype=torch.float32)[:, None] * STEP
    with torch.no_grad():
        return mlp(grid).numpy().astype(np.float32)
