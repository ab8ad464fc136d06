"""Export: a trained torch EdgeBert (or every task packaged in a model folder) to the
accelerator artifact (`edgebert.accel.artifact`)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgebert.accel.artifact import AfTensor, HwTask, save_artifact
from edgebert.accel.numerics import functions as fn
from edgebert.accel.numerics.fixed import SITES, Fmt, act, to_fixed
from edgebert.accel.predictor import Binned
from edgebert.core.errors import InputError, MissingFileError


# Output format of each matrix's bias (by matrix name pattern).
def bias_site(name: str) -> str:
    if name.endswith(".pooler"):
        return "pool"
    if name.endswith(".classifier"):
        return "logit"
    return {"layer.q": "q", "layer.k": "k", "layer.v": "v", "layer.ffn1": "ffn"}.get(name, "hidden")


def float_matrices(model) -> dict[str, np.ndarray]:
    """Every weight matrix the artifact holds in AdaptivFloat, as the float tensor it is quantized
    from (the query projection carries the attention scale 1/sqrt(head_dim))."""
    cfg = model.cfg
    sd = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    scale_q = 1.0 / math.sqrt(cfg.head_dim)
    out = {"embed_proj": sd["embed_proj.weight"]}
    for p in ("q", "k", "v", "o", "ffn1", "ffn2"):
        out[f"layer.{p}"] = sd[f"layer.{p}.weight"] * (scale_q if p == "q" else 1.0)
    for i in range(cfg.layers):
        for p in ("pooler", "classifier"):
            out[f"ramps.{i}.{p}"] = sd[f"ramps.{i}.{p}.weight"]
    out["position"] = sd["position_embeddings.weight"]
    out["token_type"] = sd["type_embeddings.weight"]
    out["word_embeddings"] = model.word_embeddings.double().numpy()
    return out


def export_task(model, task: str, formats: dict[str, int], threshold: float,
                predictor_table: np.ndarray, binned: Binned) -> HwTask:
    """Quantize a trained torch EdgeBert into the hardware's integers."""
    from edgebert.train.quant import quantize_table_np
    from edgebert.train.span import span_table
    cfg = model.cfg
    sd = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    scale_q = 1.0 / math.sqrt(cfg.head_dim)
    floats = float_matrices(model)
    saturations: dict[str, int] = {}
    matrices, vectors = {}, {}

    def add_matrix(name: str, b: np.ndarray | None, scale: float = 1.0):
        w = floats[name]
        t = AfTensor.from_float(w)
        matrices[name] = t
        saturations[name] = t.saturations(w)
        if b is not None:
            vectors[f"{name}.bias"] = _words(b * scale, act(formats[bias_site(name)]), saturations, f"{name}.bias")

    add_matrix("embed_proj", sd["embed_proj.bias"])
    for p in ("q", "k", "v", "o", "ffn1", "ffn2"):
        add_matrix(f"layer.{p}", sd[f"layer.{p}.bias"], scale_q if p == "q" else 1.0)
    for i in range(cfg.layers):
        for p in ("pooler", "classifier"):
            add_matrix(f"ramps.{i}.{p}", sd[f"ramps.{i}.{p}.bias"])
    add_matrix("position", None)
    add_matrix("token_type", None)
    for ln, width, site in (("embed_ln", cfg.embed_dim, "emb"), ("layer.ln1", cfg.hidden, "hidden"),
                            ("layer.ln2", cfg.hidden, "hidden")):
        gain = to_fixed(sd[f"{ln}.weight"] * math.sqrt(width), fn.LN_GAIN_FRAC)
        vectors[f"{ln}.gain"] = gain
        vectors[f"{ln}.beta"] = _words(sd[f"{ln}.bias"], act(formats[site]), saturations, f"{ln}.beta")
    word = AfTensor.from_float(floats["word_embeddings"])
    saturations["word_embeddings"] = word.saturations(floats["word_embeddings"])
    spans = model.spans()
    mask = quantize_table_np(span_table(spans, cfg.max_len, cfg.span_ramp).numpy())
    pred = to_fixed(np.asarray(predictor_table, dtype=np.float64), fn.ENTROPY_FRAC)
    return HwTask(task, cfg, {s: int(formats[s]) for s in SITES}, float(threshold), matrices,
                  vectors, mask, pred, binned, word, fn.tables(), spans,
                  {k: v for k, v in saturations.items() if v})


def _words(x: np.ndarray, fmt: Fmt, saturations: dict, name: str) -> np.ndarray:
    w = to_fixed(x, fmt.frac)
    saturations[name] = int(np.count_nonzero((w > fmt.hi) | (w < fmt.lo)))
    return np.clip(w, fmt.lo, fmt.hi)


def export_model_dir(model_dir: Path, calibrate=None, out_dir: Path | None = None) -> dict:
    """Export every task packaged in `model_dir` into one artifact (default `<model_dir>/accel`).

    A task trained with QAT carries its activation formats in task.json; for one that does not,
    `calibrate(task, model)` must supply them (post-training quantization)."""
    from edgebert.train.package import binned_predictor, load_task, predictor_table
    model_dir = Path(model_dir)
    names = sorted(p.parent.name for p in model_dir.glob("*/task.json"))
    if not names:
        raise MissingFileError(f"no task packages (*/task.json) in {model_dir}")
    tasks, report = [], {}
    for name in names:
        model, manifest = load_task(model_dir, name)
        formats = manifest.get("formats")
        if formats is None:
            if calibrate is None:
                raise InputError(f"{name}: the package has no activation formats (trained without "
                                 "QAT); calibrate them on training data to export it")
            formats = calibrate(name, model)
        hw = export_task(model, name, formats, manifest["threshold"], predictor_table(manifest),
                         binned_predictor(manifest))
        tasks.append(hw)
        report[name] = {"formats": hw.formats, "export_saturations": hw.export_saturations,
                        "weight_biases": {k: t.bias for k, t in hw.matrices.items() if not k.startswith("ramps.")}}
    out = save_artifact(tasks, Path(out_dir) if out_dir else model_dir / "accel")
    report["artifact"] = str(out)
    report["bytes"] = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    return report
