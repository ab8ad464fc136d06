"""The threshold sweep with energy: accuracy, average exit layer and the 12 nm energy of plain
early exit at V0 for each entropy threshold, from one all-layer pass of the golden model."""
from __future__ import annotations

import numpy as np

from edgebert.accel import images
from edgebert.accel.asic12nm import EnergyParams
from edgebert.accel.cost import Schedule
from edgebert.accel.golden import GoldenModel, evaluate_set
from edgebert.analysis.energy import phase_energy

THRESHOLD_GRID = [round(float(t), 2) for t in np.arange(0.0, 0.70, 0.02)]


def threshold_sweep(hw, items, array_n: int, p: EnergyParams, thresholds=THRESHOLD_GRID,
                    progress: bool = True) -> list[dict]:
    """One row per threshold. The golden model's trace holds every layer's exact logits and
    entropies, so any threshold's exits follow without running the sentences again."""
    sched = Schedule(hw.cfg, array_n, len(hw.live_heads)).warm()
    enc = [it.encoded for it in items]
    labels = np.array([it.label for it in items])
    trace = evaluate_set(GoldenModel(hw), enc, hw.threshold_q16, progress=progress)
    step = {}
    e1 = []
    for e in enc:
        s = len(e.ids)
        c1 = sched.phase1(images.embedding_record_words(hw.word_table, e.ids))
        e1.append(sum(phase_energy(p, sched, s, 1, True, c1, p.v0)[0].values()))
        if s not in step:               # one layer's energy depends on the length alone
            step[s] = sum(phase_energy(p, sched, s, 1, False, sched.phase2(s, 1), p.v0)[0].values())
    e1 = np.array(e1)
    per_layer = np.array([step[len(e.ids)] for e in enc])
    rows = []
    for t in thresholds:
        below = trace["entropies"] < t
        layers = np.where(below.any(axis=1), below.argmax(axis=1) + 1, hw.cfg.layers)
        pred = trace["logits"][np.arange(len(enc)), layers - 1].argmax(-1)
        rows.append({"threshold": t, "accuracy": float((pred == labels).mean()),
                     "avg_exit_layer": float(layers.mean()),
                     "energy_uj": float((e1 + (layers - 1) * per_layer).mean())})
    return rows
