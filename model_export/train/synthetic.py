"""Random accelerator tasks of any model config, for hardware tests and cycle measurements
where no trained model of that size exists (the `edge` and `paper` configs). The weights are
random but go through the real export path (AdaptivFloat codes, bitmasks, vectors, tables)."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from edgebert.accel.artifact import HwTask
from edgebert.accel.interface import MAX_CLASSES
from edgebert.accel.predictor import H_BINS, LEN_BINS, Binned
from edgebert.core.config import ModelConfig
from edgebert.train.export import export_task
from edgebert.train.model import EdgeBert

FORMATS = {"emb": 11, "hidden": 10, "q": 12, "k": 12, "v": 12, "score": 10, "ffn": 11, "pool": 12,
           "logit": 12}


def random_task(cfg: ModelConfig, seed: int = 0, dead_heads=(), vocab_size: int | None = 2000,
                pruning: float = 0.5, threshold: float = 0.3) -> HwTask:
    """A task of config `cfg` (vocabulary cut to `vocab_size` to keep it small) with heads
    `dead_heads` at span 0 and about `pruning` of each weight matrix zero."""
    if vocab_size:
        cfg = dataclasses.replace(cfg, vocab_size=vocab_size)
    torch.manual_seed(seed)
    model = EdgeBert(cfg, torch.randn(cfg.vocab_size, cfg.embed_dim) * 0.1, dropout=0.0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(std=1.0 / p.shape[1] ** 0.5)
                p.mul_(torch.rand_like(p) >= pruning)
            elif name.endswith(".bias"):
                p.normal_(std=0.05)
        spans = torch.rand(cfg.heads) * 0.8 + 0.2
        spans[list(dead_heads)] = 0.0
        model.layer.span_frac.copy_(spans)
    rng = np.random.default_rng(seed)
    table = np.sort(rng.uniform(0.0, 0.7, size=(100, cfg.layers - 2)), axis=1)[:, ::-1]
    binned = Binned(rng.integers(2, cfg.layers + 1, size=(H_BINS, LEN_BINS, MAX_CLASSES)).astype(np.uint8),
                    np.sort(rng.integers(1, cfg.max_len + 1, size=LEN_BINS - 1)))
    return export_task(model.eval(), "synthetic", FORMATS, threshold, table, binned)
