"""The search space (configs/search/space.json) and what is known of a point before training:
its build sized to it, whether that build fits the board (resource estimate), and a lower bound
on its latency. Points that fail either are rejected without a trial."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from edgebert.accel.builds import get_build
from edgebert.accel.candidate import (
    latency_lower_bound_ms,
    latency_upper_bound_ms,
    ramps_in_ddr,
    resources,
    sized_build,
    weight_density,
)
from edgebert.core.config import CONFIG_DIR, ModelConfig, load_model_config
from edgebert.core.errors import InputError
from edgebert.runtime.boards import get_board

SPACE_JSON = CONFIG_DIR / "search" / "space.json"
FIELDS = ("hidden", "heads", "ffn", "embed_dim", "layers", "encoder_sparsity", "max_len", "n")
RAMP_SPARSITY = 0.6     # the recipe's stage 2 prunes the off-ramp poolers to this (configs/train/*_tiny.json)


def load_space(board: str, path: Path = SPACE_JSON) -> dict[str, list]:
    """The board's choices per field."""
    data = json.loads(Path(path).read_text())
    space = {**data["default"], **data.get("boards", {}).get(board, {})}
    space.setdefault("n", [get_build(board).n])
    missing = [f for f in FIELDS if not space.get(f)]
    if missing:
        raise InputError(f"{path}: no choices for {', '.join(missing)} on board {board!r}")
    if max(space["layers"]) > 12:
        raise InputError(f"{path}: at most 12 layer applications (the accelerator's EB_MAX_LAYERS)")
    return {f: list(space[f]) for f in FIELDS}


def shipped_dims(board: str, model: str = "tiny", encoder_sparsity: float = 0.5) -> dict:
    """The shipped model's point on `board` (its build's sentence length and array), considered
    first so that the search says how it stands against the target."""
    cfg, build = load_model_config(model), get_build(board)
    return {"hidden": cfg.hidden, "heads": cfg.heads, "ffn": cfg.ffn, "embed_dim": cfg.embed_dim,
            "layers": cfg.layers, "encoder_sparsity": encoder_sparsity,
            "max_len": min(cfg.max_len, build.limit("EB_MAX_LEN")), "n": build.n}


def point_id(point: dict) -> str:
    """A short stable name of a point (its trial folder)."""
    text = json.dumps({f: point[f] for f in FIELDS}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def model_config(point: dict, base: str = "tiny") -> ModelConfig:
    """The point's model: `base`'s settings with the point's dimensions."""
    d = {**load_model_config(base).to_dict(), **{f: point[f] for f in FIELDS if f not in ("encoder_sparsity", "n")}}
    return ModelConfig.from_dict({**d, "name": f"search-{point_id(point)}"})


def sized(point: dict, board: str):
    """The point's build on `board` and its weight density."""
    cfg = model_config(point)
    on_chip = not ramps_in_ddr(get_build(board))
    density = weight_density(cfg, on_chip, point["encoder_sparsity"], RAMP_SPARSITY)
    return sized_build(board, cfg, point["n"], density), density


def rejection(point: dict, board: str, target_ms: float, dev_lengths) -> dict:
    """Why `point` cannot meet the board or the target whatever its training ({} if it may):
    the build's resources (and the heads dividing H), and the latency lower bound."""
    if point["hidden"] % point["heads"]:
        return {"reason": f"heads {point['heads']} do not divide hidden {point['hidden']}"}
    cfg = model_config(point)
    build, density = sized(point, board)
    res = resources(build, cfg)
    if not res["fits"]:
        over = [k for k in ("dsp", "bram36", "uram", "lut") if res[k] > res["capacity"][k]]
        return {"reason": f"does not fit {board}: {', '.join(over)} over capacity", "resources": res}
    bound = latency_lower_bound_ms(build, cfg, dev_lengths, get_board(board).top_clock)
    if bound > target_ms:
        return {"reason": f"latency lower bound {bound:.3f} ms over the {target_ms} ms target",
                "latency_lower_bound_ms": bound}
    return {}


def surely_in_time(point: dict, board: str, target_ms: float, dev_lengths) -> bool:
    """Even the slowest trained model of the point meets the target (latency upper bound)."""
    build, _ = sized(point, board)
    return latency_upper_bound_ms(build, model_config(point), dev_lengths, get_board(board).top_clock) <= target_ms


def sample_points(space: dict[str, list], count: int, seed: int, board: str, target_ms: float, dev_lengths,
                  first: list[dict] = (), max_draws: int = 5000) -> tuple[list[dict], list[dict]]:
    """`count` distinct points that pass `rejection` (the `first` ones, if they pass, lead), and
    every rejected point with its reason. Half of them, where the space has enough, are points
    that meet the target whatever their exits (latency upper bound), the others points that may
    meet it (lower bound below the target, upper bound above), in the order drawn."""
    rng = np.random.default_rng(seed)
    accepted, rejected, seen, drawn = [], [], set(), set()
    size = math.prod(len(v) for v in space.values())

    def consider(point):
        key = point_id(point)
        if key in seen:
            return
        seen.add(key)
        why = rejection(point, board, target_ms, dev_lengths)
        (rejected.append({"point": point, **why}) if why else accepted.append(point))

    for p in first:
        consider(dict(p))
    for _ in range(max_draws):
        if len(accepted) >= 4 * count or len(drawn) >= size:
            break
        point = {f: _plain(space[f][rng.integers(len(space[f]))]) for f in FIELDS}
        drawn.add(point_id(point))
        consider(point)
    sure = [p for p in accepted if surely_in_time(p, board, target_ms, dev_lengths)]
    maybe = [p for p in accepted if p not in sure]
    half = min(len(sure), max(count - len(maybe), (count + 1) // 2))
    chosen = sure[:half] + maybe[:count - half]
    return [p for p in accepted if p in chosen], rejected


def _plain(x):
    return x.item() if hasattr(x, "item") else x
