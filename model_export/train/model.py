"""ALBERT-style EdgeBERT encoder in PyTorch.

Factorized embedding (a frozen word table of width E shared by all tasks, task-specific position
and token-type tables, LayerNorm, then E -> H), one transformer layer applied `layers` times,
an off-ramp after every use of it (DeeBERT style: tanh pooler on token 0, then a linear
classifier; the last off-ramp is the final classifier), adaptive attention span per head.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from edgebert.core.config import ModelConfig
from edgebert.train.early_exit import entropy
from edgebert.train.quant import FloatHooks, quantize_span_mask
from edgebert.train.span import span_mask

# The weight matrices of the encoder that are pruned and later stored bitmask-sparse.
PRUNABLE = ("embed_proj.weight", "layer.q.weight", "layer.k.weight", "layer.v.weight",
            "layer.o.weight", "layer.ffn1.weight", "layer.ffn2.weight")


def ramp_poolers(layers: int) -> tuple[str, ...]:
    """The off-ramp pooler matrices (H x H each): as large as the encoder in all, pruned in stage
    2 when `ramp_sparsity` is set."""
    return tuple(f"ramps.{l}.pooler.weight" for l in range(layers))


class SharedLayer(nn.Module):
    """Post-LN transformer layer with span-masked attention and a tanh-GELU FFN."""

    def __init__(self, cfg: ModelConfig, dropout: float):
        super().__init__()
        h = cfg.hidden
        self.cfg = cfg
        self.q, self.k, self.v, self.o = (nn.Linear(h, h) for _ in range(4))
        self.ln1 = nn.LayerNorm(h, eps=cfg.layer_norm_eps)
        self.ffn1 = nn.Linear(h, cfg.ffn)
        self.ffn2 = nn.Linear(cfg.ffn, h)
        self.ln2 = nn.LayerNorm(h, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(dropout)
        # Spans are learned as a fraction of max_len so that they train at a sane scale.
        self.span_frac = nn.Parameter(torch.ones(cfg.heads))
        self.hooks = FloatHooks()

    @property
    def spans(self) -> torch.Tensor:
        """Per-head attention span in positions, in [0, max_len]."""
        return self.span_frac.clamp(0.0, 1.0) * self.cfg.max_len

    def linear(self, layer: nn.Linear, x: torch.Tensor, site: str, scale: float = 1.0) -> torch.Tensor:
        """A projection as the hardware computes it: quantized weights, the bias added in the
        output format, one rounding of the result."""
        h = self.hooks
        w, bias = layer.weight * scale, layer.bias * scale
        return h.act(site, F.linear(x, h.weight(w), h.act(site, bias)))

    def layer_norm(self, ln: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
        h = self.hooks
        x = h.act("hidden", x)
        return h.act("hidden", F.layer_norm(x, ln.normalized_shape, ln.weight,
                                            h.act("hidden", ln.bias), ln.eps))

    def attention(self, x: torch.Tensor, key_pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, _ = x.shape
        nh, d = self.cfg.heads, self.cfg.head_dim
        h = self.hooks
        split = lambda t: t.view(b, n, nh, d).transpose(1, 2)          # (B, heads, n, d)
        # 1/sqrt(d) is folded into the query projection, as the hardware stores it.
        q = split(self.linear(self.q, x, "q", 1.0 / math.sqrt(d)))
        k, v = split(self.linear(self.k, x, "k")), split(self.linear(self.v, x, "v"))
        scores = h.act("score", q @ k.transpose(-1, -2))
        scores = scores.masked_fill(~key_pad[:, None, None, :], float("-inf"))
        mask = span_mask(self.spans, n, self.cfg.span_ramp)
        if h.active:   # the UQ1.15 table, with the gradient of the exact ramp
            mask = mask + (quantize_span_mask(mask) - mask).detach()
        probs = h.prob(h.prob(torch.softmax(scores, dim=-1)) * mask)
        ctx = h.act("v", self.drop(probs) @ v).transpose(1, 2).reshape(b, n, nh * d)
        return self.linear(self.o, ctx, "hidden"), probs

    def forward(self, x: torch.Tensor, key_pad: torch.Tensor) -> torch.Tensor:
        a, _ = self.attention(x, key_pad)
        x = self.layer_norm(self.ln1, x + self.drop(a))
        g = self.hooks.act("ffn", F.gelu(self.linear(self.ffn1, x, "ffn"), approximate="tanh"))
        f = self.linear(self.ffn2, g, "hidden")
        return self.layer_norm(self.ln2, x + self.drop(f))


class OffRamp(nn.Module):
    """tanh(Linear H->H) on token 0, then Linear H->classes."""

    def __init__(self, cfg: ModelConfig, dropout: float):
        super().__init__()
        self.pooler = nn.Linear(cfg.hidden, cfg.hidden)
        self.classifier = nn.Linear(cfg.hidden, cfg.num_labels)
        self.drop = nn.Dropout(dropout)
        self.hooks = FloatHooks()

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """tanh of the pooler on token 0: what the classifier reads."""
        h = self.hooks
        pooled = h.act("pool", F.linear(x[:, 0], h.weight(self.pooler.weight), h.act("pool", self.pooler.bias)))
        return h.tanh_out(torch.tanh(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hooks
        t = self.drop(self.pooled(x))
        return h.act("logit", F.linear(t, h.weight(self.classifier.weight), h.act("logit", self.classifier.bias)))


class EdgeBert(nn.Module):
    def __init__(self, cfg: ModelConfig, word_embeddings: torch.Tensor | None = None,
                 dropout: float = 0.1):
        super().__init__()
        self.cfg = cfg
        if word_embeddings is None:
            word_embeddings = torch.randn(cfg.vocab_size, cfg.embed_dim) * 0.02
        if tuple(word_embeddings.shape) != (cfg.vocab_size, cfg.embed_dim):
            raise ValueError(f"word embedding table is {tuple(word_embeddings.shape)}, "
                             f"config {cfg.name} needs ({cfg.vocab_size}, {cfg.embed_dim})")
        # The shared, frozen word table: a buffer, not saved with the task weights.
        self.register_buffer("word_embeddings", word_embeddings.float(), persistent=False)
        self.position_embeddings = nn.Embedding(cfg.max_len, cfg.embed_dim)
        self.type_embeddings = nn.Embedding(cfg.type_vocab, cfg.embed_dim)
        self.embed_ln = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.embed_proj = nn.Linear(cfg.embed_dim, cfg.hidden)
        self.layer = SharedLayer(cfg, dropout)
        self.ramps = nn.ModuleList(OffRamp(cfg, dropout) for _ in range(cfg.layers))
        self.drop = nn.Dropout(dropout)
        self.hooks = FloatHooks()
        self._word_table = None
        for name, p in self.named_parameters():
            if p.dim() == 2 and "embeddings" not in name:
                nn.init.normal_(p, std=0.02)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
        with torch.no_grad():   # BERT's scale (std 0.02) next to the word table's (~0.07)
            self.position_embeddings.weight.mul_(0.02)
            self.type_embeddings.weight.mul_(0.02)

    def set_hooks(self, hooks) -> None:
        """Switch the whole model between float, range observation and fake quantization."""
        for m in (self, self.layer, *self.ramps):
            m.hooks = hooks
        # The frozen word table is quantized once, not at every step.
        self._word_table = hooks.table(self.word_embeddings) if hooks.active else None

    def embed(self, ids: torch.Tensor, token_types: torch.Tensor) -> torch.Tensor:
        if ids.shape[1] > self.cfg.max_len:
            raise ValueError(f"sequence of {ids.shape[1]} tokens exceeds max_len {self.cfg.max_len}")
        h = self.hooks
        words = self.word_embeddings if self._word_table is None else self._word_table
        pos = h.table(self.position_embeddings.weight)[: ids.shape[1]]
        e = h.act("emb", words[ids] + pos[None] + h.table(self.type_embeddings.weight)[token_types])
        ln = self.embed_ln
        e = h.act("emb", F.layer_norm(e, ln.normalized_shape, ln.weight, h.act("emb", ln.bias), ln.eps))
        return self.layer.linear(self.embed_proj, self.drop(e), "hidden")

    def forward(self, ids: torch.Tensor, token_types: torch.Tensor, key_pad: torch.Tensor,
                num_layers: int | None = None, return_hidden: bool = False):
        """Logits of every off-ramp: (B, L, classes); optionally hidden states (L, B, n, H)."""
        x = self.embed(ids, token_types)
        logits, hidden = [], []
        for l in range(num_layers or self.cfg.layers):
            x = self.layer(x, key_pad)
            logits.append(self.ramps[l](x))
            if return_hidden:
                hidden.append(x)
        out = torch.stack(logits, dim=1)
        return (out, hidden) if return_hidden else out

    @torch.no_grad()
    def classify_early_exit(self, ids: torch.Tensor, token_types: torch.Tensor,
                            threshold: float) -> tuple[torch.Tensor, int, list[float]]:
        """One sentence (batch 1) layer by layer, stopping at the first layer with H < T."""
        key_pad = torch.ones_like(ids, dtype=torch.bool)
        x = self.embed(ids, token_types)
        entropies = []
        for l in range(self.cfg.layers):
            x = self.layer(x, key_pad)
            z = self.ramps[l](x)
            entropies.append(float(entropy(z)[0]))
            if entropies[-1] < threshold or l == self.cfg.layers - 1:
                return z[0], l + 1, entropies
        raise AssertionError("unreachable")

    def task_state(self) -> dict[str, torch.Tensor]:
        """The task-specific weights (everything except the shared word table)."""
        return {k: v.detach().clone() for k, v in self.state_dict().items()}

    def spans(self) -> list[float]:
        return [round(float(s), 3) for s in self.layer.spans.detach()]
