"""The configuration search's measure of a trained (float) model on a board (config `screen`):
the early-exit threshold chosen on the validation split, the accuracy there, and on the dev
sentences the exact hardware figures of the model's own weights: the build sized to it (resource
estimate, its weight store against the model's non-zero codes), each sentence's cycles at its
exit layer (cycle model, equal to the C-simulation's counters for the quantized model's record
lengths) at the board's top clock, and its 12 nm energy at the nominal point.

The exits are the float model's: the quantized model exits within a layer or so of them (QAT and
calibration come later in the full recipe), so the latency is the float model's, stated as such."""
from __future__ import annotations

import numpy as np

from edgebert.accel.artifact import AfTensor
from edgebert.accel.asic12nm import EnergyParams
from edgebert.accel.candidate import ramp_words, ramps_in_ddr, resources, sentence_costs, sized_build
from edgebert.accel.cost import Schedule
from edgebert.accel.images import embedding_record_words
from edgebert.runtime.boards import get_board
from edgebert.train import evaluate as ev
from edgebert.train.early_exit import exit_layers
from edgebert.train.export import float_matrices
from edgebert.train.model import PRUNABLE, EdgeBert
from edgebert.train.span import removable_heads


def nonzero_codes(codes: dict[str, np.ndarray], ramps_on_chip: bool) -> int:
    """Non-zero codes the build's weight store must hold: the pruned matrices, and the off-ramps
    when the build keeps them on chip."""
    names = [n.removesuffix(".weight") for n in PRUNABLE]
    if ramps_on_chip:
        names += [n for n in codes if n.startswith("ramps.")]
    return int(sum(np.count_nonzero(codes[n]) for n in names))


def screen(model: EdgeBert, spec: dict, val_enc, val_y: np.ndarray, dev_enc, dev_y: np.ndarray,
           with_f1: bool) -> dict:
    """`spec`: board, n, weight_density (percent), latency_target_ms, tolerance (accuracy the
    threshold may give up on validation)."""
    cfg, board = model.cfg, spec["board"]
    val_logits = ev.all_layer_logits(model, val_enc)
    threshold = ev.choose_threshold(val_logits, val_y, spec.get("tolerance", 0.01))
    val = ev.early_exit_metrics(val_logits, val_y, threshold, with_f1=with_f1)
    dev_logits = ev.all_layer_logits(model, dev_enc)
    dev = ev.early_exit_metrics(dev_logits, dev_y, threshold, with_f1=with_f1)
    exits = exit_layers(ev.layer_entropies(dev_logits), threshold)

    floats = float_matrices(model)
    codes = {name: AfTensor.from_float(w).codes for name, w in floats.items() if name != "word_embeddings"}
    build = sized_build(board, cfg, int(spec["n"]), int(spec["weight_density"]))
    res = resources(build, cfg)
    on_chip = not ramps_in_ddr(build)
    need = nonzero_codes(codes, on_chip)
    res["codes_needed"] = need
    res["fits"] = bool(res["fits"] and need <= res["codes_capacity"])
    ramps = None if on_chip else ramp_words([codes[f"ramps.{i}.{m}"] for i in range(cfg.layers)
                                             for m in ("pooler", "classifier")])
    live = cfg.heads - len(removable_heads(model.layer.spans))
    sched = Schedule(cfg, build.n, live, ramps)
    word = AfTensor.from_float(floats["word_embeddings"])
    words = [embedding_record_words(word, e.ids) for e in dev_enc]
    top = get_board(board).top_clock
    costs = sentence_costs(sched, words, exits, top, EnergyParams.load())
    p99 = float(np.percentile(costs["latency_ms"], 99))
    return {"board": board, "n": build.n, "clock_mhz": top, "threshold": threshold,
            "accuracy": val["accuracy"], "accuracy_all_layers": ev.per_layer_accuracy(val_logits, val_y)[-1],
            "avg_exit_layer": val["avg_exit_layer"],
            "dev": {"accuracy": dev["accuracy"], "accuracy_all_layers": ev.per_layer_accuracy(dev_logits, dev_y)[-1],
                    "avg_exit_layer": dev["avg_exit_layer"], **({"f1": dev["f1"]} if with_f1 else {})},
            "live_heads": live, "latency_ms": p99, "latency_ms_mean": float(costs["latency_ms"].mean()),
            "meets_target": p99 <= spec["latency_target_ms"], "latency_target_ms": spec["latency_target_ms"],
            "energy_uj": float(costs["energy_uj"].mean()), "fits": res["fits"], "resources": res}
