"""The bit-exact contract, checked sentence by sentence: the C-simulation of the accelerator
against the golden model (logits, entropies, H1, exit and predicted layers, saturations) and
its cycle counters against the analytic cost model. The MAC counters (`macs`, and `gated_macs`,
the MACs with a zero operand, which only the golden model can predict) are compared per phase
with the golden model's counts; the totals give the fraction of MACs clock-gated."""
from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from edgebert.accel import cost, images
from edgebert.accel.golden import GoldenModel
from edgebert.sim.csim import load_accelerator, run_sentence


def verify(task, encoded, labels, variant: str = "native", policy: str = "ee",
           threshold: int | None = None, progress: bool = True) -> dict:
    acc = load_accelerator(task, variant)
    golden = GoldenModel(task)
    n = acc.limits["n"]
    sched = cost.Schedule(task.cfg, n, len(task.live_heads))
    thr = task.threshold_q16 if threshold is None else int(threshold)
    mismatches, cycle_mismatches, examples = 0, 0, []
    preds, exits, cycles = [], [], []
    macs = gated = 0
    t_csim = t_golden = 0.0
    for i, e in enumerate(tqdm(encoded, desc=f"C-sim vs golden ({variant})", unit="sentence",
                               disable=not progress)):
        t0 = time.perf_counter()
        run = run_sentence(acc, images.token_words(e.ids, e.token_types), thr, task.cfg.layers, policy)
        t1 = time.perf_counter()
        ref = golden.run(e.ids, e.token_types, thr, use_predictor=policy == "predictor")
        t_golden += time.perf_counter() - t1
        t_csim += t1 - t0
        diffs = _differences(run, ref)
        if diffs:
            mismatches += 1
            if len(examples) < 5:
                examples.append({"index": i, "fields": diffs})
        want1 = sched.phase1(images.embedding_record_words(task.word_table, e.ids))["cycles"]
        want2 = sched.phase2(len(e.ids), run.exit_layer - 1)["cycles"] if run.exit_layer > 1 else 0
        cycle_mismatches += (run.phase1["cycles"], run.phase2.get("cycles", 0)) != (want1, want2)
        preds.append(int(np.argmax(run.logits)))
        exits.append(run.exit_layer)
        cycles.append(run.phase1["cycles"] + run.phase2.get("cycles", 0))
        macs += run.phase1["macs"] + run.phase2.get("macs", 0)
        gated += run.phase1["gated_macs"] + run.phase2.get("gated_macs", 0)
    acc.close()
    preds = np.array(preds)
    return {"task": task.name, "variant": variant, "policy": policy, "n": len(encoded),
            "mismatches": mismatches, "cycle_mismatches": int(cycle_mismatches),
            "accuracy": float((preds == np.asarray(labels)).mean()) if len(encoded) else 0.0,
            "avg_exit_layer": float(np.mean(exits)) if exits else 0.0,
            "avg_cycles": float(np.mean(cycles)) if cycles else 0.0,
            "macs": macs, "gated_macs": gated, "gated_fraction": gated / macs if macs else 0.0,
            "threshold_q16": thr, "array_n": n, "csim_s": round(t_csim, 2), "golden_s": round(t_golden, 2),
            "first_mismatches": examples}


def _differences(run, ref) -> list[str]:
    out = []
    if list(map(int, run.logits)) != list(map(int, ref.logits)):
        out.append("logits")
    if run.entropies != list(ref.entropies):
        out.append("entropies")
    if run.exit_layer != ref.exit_layer:
        out.append("exit_layer")
    if run.predicted_layer != ref.predicted_layer:
        out.append("predicted_layer")
    if run.predicted_binned != ref.predicted_binned:
        out.append("predicted_binned")
    if run.saturations != sum(ref.saturations.values()):
        out.append("saturations")
    for key in ("macs", "gated_macs"):
        ran = (run.phase1[key], run.phase2.get(key, 0))
        if ran != tuple(ref.ops.get(phase, {}).get(key, 0) for phase in ("phase1", "phase2")):
            out.append(key)
    return out
