"""Does a model fit a board's build? Its dimensions against the build's buffer limits, and the
build's resource estimate against the part's capacity."""
from __future__ import annotations

from edgebert.accel.builds import Build
from edgebert.accel.resources import estimate, task_weight_bytes, weight_store
from edgebert.core.config import ModelConfig


def model_fits_buffers(model: ModelConfig, build: Build) -> bool:
    """The buffers a build sizes at compile time hold the model's layer dimensions."""
    return (model.hidden <= build.limit("EB_MAX_H") and model.ffn <= build.limit("EB_MAX_FFN")
            and model.heads <= build.limit("EB_MAX_HEADS") and model.embed_dim <= build.limit("EB_MAX_E"))


def board_fit(model: ModelConfig, build: Build) -> tuple[dict, list[dict]]:
    """The fit summary of `model` on `build`, and the per-buffer memory rows of the estimate."""
    fits_model = model_fits_buffers(model, build)
    est = estimate(build.n, build.limits, build.part, build.wbuf_storage)
    out = {"board": build.board, "part": build.part, "n": build.n, "model_config": model.name,
           "model_fits_buffers": fits_model, "max_sentence_tokens": build.limit("EB_MAX_LEN"),
           "off_ramps_in_ddr": bool(build.limit("EB_RAMPS_IN_DDR")),
           "clock_mhz_target": round(1000 / build.clock_ns, 3),
           **{k: est[k] for k in ("dsp", "bram36", "uram", "lut")},
           "capacity": est["capacity"], "utilization": {k: round(v, 3) for k, v in est["utilization"].items()},
           "fits": est["fits"] and fits_model,
           **{k: est[k] for k in ("buffers", "multipliers", "dividers", "weight_store")}}
    return out, est["buffers"]


def task_fit(task, build: Build) -> dict:
    """One artifact task on `build`: its image in the bitmask-sparse weight store (what the build
    holds of it) against the same weights dense, whether its non-zero codes fit the store's
    capacity and its dimensions the build's buffers (the loader refuses it otherwise), and both."""
    sizes = task_weight_bytes(task, build.n, ramps_on_chip=not build.limit("EB_RAMPS_IN_DDR"),
                              max_len=build.limit("EB_MAX_LEN"))
    capacity = weight_store(build.n, build.limits)["codes"]
    store, dims = sizes["codes"] <= capacity, model_fits_buffers(task.cfg, build)
    return {**sizes, "code_capacity": capacity, "fits_store": store, "fits_buffers": dims, "fits": store and dims}
