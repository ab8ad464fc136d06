"""The threshold sweep with energy: accuracy, average exit layer and the 12 nm energy of plain
early exit at V0 for each entropy threshold, from one all-layer pass of the golden model. The
energy is that of the sentence's work (gated MACs at their fraction, as the projection of a run
charges them); the idle time to the deadline is not charged here, since the sweep has no target."""
from __future__ import annotations

import numpy as np

from edgebert.accel import images
from edgebert.accel.asic12nm import EnergyParams
from edgebert.accel.cost import Schedule
from edgebert.accel.energy import phase_energy
from edgebert.accel.golden import GoldenModel, evaluate_set

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
    # The energy is linear in the gated MACs: at V0 each one saves (1 - fraction) e_MAC. The
    # golden trace counts them up to every exit layer, as the accelerator's counters would.
    gated_saving = trace["gated_macs_to_layer"] * (1 - p.gated_mac_fraction) * p.e_mac_pj * 1e-6
    rows = []
    for t in thresholds:
        below = trace["entropies"] < t
        layers = np.where(below.any(axis=1), below.argmax(axis=1) + 1, hw.cfg.layers)
        idx = np.arange(len(enc))
        pred = trace["logits"][idx, layers - 1].argmax(-1)
        energy = e1 + (layers - 1) * per_layer - gated_saving[idx, layers - 1]
        rows.append({"threshold": t, "accuracy": float((pred == labels).mean()),
                     "avg_exit_layer": float(layers.mean()), "energy_uj": float(energy.mean())})
    return rows
