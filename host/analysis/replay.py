"""Calibration replay: EdgeBERT's own released SST-2 exit data (per-sentence entropies of its
ALBERT-base off-ramps and its exit-predictor table) through the 12 nm projection, for the
paper-size accelerator (ALBERT-base, 128 tokens, n = 16, all heads live).

Modes per sentence: base (12 layers at V0), EE (exit at the first entropy below T, at V0), and
latency-aware inference (LAI) with the released predictor or with an oracle. LAI runs phase 1
(embedding + layer 1) at the lowest voltage that still leaves time for every remaining layer at
V0, then phase 2 at the lowest voltage that finishes the planned layers in time: up to the
predicted layer, or up to the true exit layer (oracle). No voltage meets it: V0, and the miss is
counted. With the predictor the entropy still decides the exit: layers beyond a too-early
prediction run at V0. The `_forced` figures instead end the sentence at the predicted layer, as
EdgeBERT's hardware does (saving more, at an accuracy cost the released data cannot measure).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgebert.accel.asic12nm import EnergyParams
from edgebert.accel.cost import Schedule
from edgebert.analysis.energy import phase_energy
from edgebert.core.config import load_model_config
from edgebert.core.errors import InputError
from edgebert.core.paths import SHIPPED_DATA

DATA_DIR = SHIPPED_DATA / "edgebert"
THRESHOLDS = (0.20, 0.25, 0.30, 0.35)
TOKENS = 128                  # EdgeBERT evaluates at sequence length 128
RECORD_WORDS = 4 + 13         # per-token embedding record: 4 mask words + 40 % of 128 codes / 4
DEFAULT_TARGET_FACTOR = 2.0   # the loose target: twice the all-layer latency at V0
TARGET_FACTORS = (1.0, 1.25, 1.5, 2.0, 3.0)


def load_exit_data(data_dir: Path = DATA_DIR) -> tuple[np.ndarray, np.ndarray]:
    ent_path, lut_path = Path(data_dir) / "edgebert_sst2_entropy.txt", Path(data_dir) / "edgebert_sst2_lut.csv"
    for p in (ent_path, lut_path):
        if not p.is_file():
            raise InputError(f"EdgeBERT exit data not found: {p} (it ships in data/edgebert/)")
    try:
        ent = np.loadtxt(ent_path, delimiter=",", ndmin=2)
        lut = np.loadtxt(lut_path, delimiter=",", ndmin=2)
    except ValueError as e:
        raise InputError(f"EdgeBERT exit data in {data_dir} is not comma-separated numbers ({e})") from None
    if ent.shape[1] != 12 or lut.shape != (100, 11):
        raise InputError(f"unexpected EdgeBERT data shapes {ent.shape}, {lut.shape}")
    return ent, lut


def ee_exit(ent: np.ndarray, t: float) -> np.ndarray:
    """First of the trained off-ramps 1..11 below T, else layer 12 (EdgeBERT's rule)."""
    below = ent[:, :11] < t
    return np.where(below.any(axis=1), below.argmax(axis=1) + 1, 12)


def predicted_exit(ent: np.ndarray, lut: np.ndarray, t: float) -> np.ndarray:
    h1 = ent[:, 0]
    rows = np.clip(np.rint(h1 / 0.01).astype(int), 0, 99)
    pred = lut[rows, 1:] < t                               # layers 2..11
    out = np.where(pred.any(axis=1), pred.argmax(axis=1) + 2, 12)
    return np.where(h1 < t, 1, out)


@dataclass
class Costs:
    """Energy (uJ) and time (ms) of phase 1 and of one more layer, per supply level."""
    volts: list[float]
    e1: np.ndarray
    t1: np.ndarray
    e_layer: np.ndarray
    t_layer: np.ndarray


def layer_costs(p: EnergyParams, sched: Schedule) -> Costs:
    volts = [pt.volts for pt in p.grid.points]
    c1 = sched.phase1([RECORD_WORDS] * TOKENS)
    c2 = sched.phase2(TOKENS, 1)
    e1, t1, el, tl = [], [], [], []
    for v in volts:
        e, t = phase_energy(p, sched, TOKENS, 1, True, c1, v)
        e1.append(sum(e.values()))
        t1.append(t)
        e, t = phase_energy(p, sched, TOKENS, 1, False, c2, v)
        el.append(sum(e.values()))
        tl.append(t)
    return Costs(volts, np.array(e1), np.array(t1), np.array(el), np.array(tl))


def _lowest(times: np.ndarray, budget) -> tuple[np.ndarray, np.ndarray]:
    """Index of the lowest level whose time fits the budget (per sentence), and whether any does."""
    fits = times[None, :] <= np.asarray(budget)[:, None] + 1e-12
    ok = fits.any(axis=1)
    return np.where(ok, fits.argmax(axis=1), len(times) - 1), ok


def lai(c: Costs, p: EnergyParams, planned: np.ndarray, run: np.ndarray, target_ms: float) -> dict:
    """Energy and latency of LAI that plans `planned` layers and runs `run`: phase 1 at the
    lowest level leaving time for all remaining layers at V0, layers 2..planned at the lowest
    level fitting them in the target, and any layer beyond the plan at V0 (the controller's
    recovery when the predictor was too early)."""
    sw_ms = p.t_switch_ns * 1e-6
    top = len(c.volts) - 1
    n = len(planned)
    i1, _ = _lowest(c.t1, np.full(n, target_ms - 11 * c.t_layer[top] - 2 * sw_ms))
    used = c.t1[i1]
    need = (planned - 1)[:, None] * c.t_layer[None, :]
    fits = need <= (target_ms - used - sw_ms)[:, None] + 1e-12
    i2 = np.where(fits.any(axis=1), fits.argmax(axis=1), top)
    at_plan = np.minimum(run, planned) - 1                      # layers run at the planned level
    beyond = np.maximum(run - planned, 0)                       # layers run at V0 after the plan
    switches = ((at_plan > 0) & (i2 != i1)).astype(int) + ((beyond > 0) & (i2 != top))
    energy = c.e1[i1] + at_plan * c.e_layer[i2] + beyond * c.e_layer[top] + switches * p.e_switch_nj * 1e-3
    latency = used + at_plan * c.t_layer[i2] + beyond * c.t_layer[top] + switches * sw_ms
    return {"energy": energy, "latency": latency, "met": latency <= target_ms + 1e-9,
            "v_phase2": np.array(c.volts)[np.where(run > 1, i2, i1)]}


def replay(p: EnergyParams | None = None, data_dir: Path = DATA_DIR, thresholds=THRESHOLDS,
           target_factor: float = DEFAULT_TARGET_FACTOR) -> dict:
    p = p or EnergyParams.load()
    ent, lut = load_exit_data(data_dir)
    sched = Schedule(load_model_config("paper"), 16)
    c = layer_costs(p, sched)
    top = len(c.volts) - 1
    base_ms = c.t1[top] + 11 * c.t_layer[top]
    target = target_factor * base_ms
    e_base = c.e1[top] + 11 * c.e_layer[top]
    rows = []
    for t in thresholds:
        true = ee_exit(ent, t)
        pred = predicted_exit(ent, lut, t)
        e_ee = c.e1[top] + (true - 1) * c.e_layer[top]
        with_pred = lai(c, p, pred, true, target)                 # the entropy decides the exit
        forced = lai(c, p, pred, np.minimum(true, pred), target)  # EdgeBERT: exit at L^ at the latest
        oracle = lai(c, p, true, true, target)
        rows.append({
            "threshold": t, "avg_exit_layer": float(true.mean()),
            "ratio_base_over_ee": float(e_base / e_ee.mean()),
            "ratio_ee_over_lai_predictor": float(e_ee.mean() / with_pred["energy"].mean()),
            "ratio_base_over_lai_predictor": float(e_base / with_pred["energy"].mean()),
            "ratio_ee_over_lai_oracle": float(e_ee.mean() / oracle["energy"].mean()),
            "ratio_base_over_lai_oracle": float(e_base / oracle["energy"].mean()),
            "target_met_fraction_predictor": float(with_pred["met"].mean()),
            "target_met_fraction_oracle": float(oracle["met"].mean()),
            "ratio_ee_over_lai_predictor_forced": float(e_ee.mean() / forced["energy"].mean()),
            "ratio_base_over_lai_predictor_forced": float(e_base / forced["energy"].mean()),
            "avg_exit_layer_predictor_forced": float(np.minimum(true, pred).mean()),
            "predictor_exact_early_late": [float((pred == true).mean()), float((pred < true).mean()),
                                           float((pred > true).mean())],
            "avg_v_phase2_predictor": float(with_pred["v_phase2"].mean()),
            "avg_v_phase2_oracle": float(oracle["v_phase2"].mean()),
        })
    return {"sentences": int(len(ent)), "tokens": TOKENS, "config": "paper", "array_n": 16,
            "base_latency_ms": float(base_ms), "target_ms": float(target), "target_factor": target_factor,
            "energy_base_uj": float(e_base), "thresholds": rows}


# ---- parameter sensitivity ---------------------------------------------------------------------
SENSITIVITY = {
    "Vth/alpha = 0.315/1.08 (HP14 fit)": {"vth": 0.315, "alpha": 1.08},
    "leakage x0.5": {"p_leak_mw": 0.5},
    "leakage x2": {"p_leak_mw": 2.0},
    "leakage x4": {"p_leak_mw": 4.0},
    "Vmin 0.45 V": {"vmin": 0.45},
    "Vmin 0.55 V": {"vmin": 0.55},
    "overhead power x0.5": {"p_overhead_mw": 0.5},
    "overhead power x2": {"p_overhead_mw": 2.0},
}
SCALED = ("p_leak_mw", "p_overhead_mw")          # given as factors of the default value


def sensitivity(base: EnergyParams | None = None, data_dir: Path = DATA_DIR,
                target_factor: float = DEFAULT_TARGET_FACTOR) -> list[dict]:
    """Each variation's replay ratios (all four thresholds), next to the defaults."""
    from dataclasses import asdict
    base = base or EnergyParams.load()
    rows = []
    for name, change in {"defaults": {}, **SENSITIVITY}.items():
        values = asdict(base)
        for k, v in change.items():
            values[k] = values[k] * v if k in SCALED else v
        p = EnergyParams.checked(name, values)
        out = replay(p, data_dir, target_factor=target_factor)
        rows.append({"variation": name, "thresholds": out["thresholds"]})
    return rows


# ---- docs/energy_model.md ----------------------------------------------------------------------
RATIO_COLUMNS = ["threshold", "avg_exit_layer", "ratio_base_over_ee", "ratio_ee_over_lai_oracle",
                 "ratio_base_over_lai_oracle", "ratio_ee_over_lai_predictor", "ratio_base_over_lai_predictor",
                 "target_met_fraction_predictor", "ratio_ee_over_lai_predictor_forced"]


def doc_sections(p, data_dir, factors, bands, default) -> dict[str, str]:
    """The generated tables of docs/energy_model.md."""
    from edgebert.core.docgen import markdown
    fmt = lambda r: {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}
    sections = {"replay": markdown([fmt(r) for r in default["thresholds"]], RATIO_COLUMNS)}
    rows = []
    for f in factors:
        r = replay(p, data_dir, target_factor=f)
        t = next(x for x in r["thresholds"] if x["threshold"] == 0.25)
        rows.append(fmt({"target": f"{f:g} x base ({f * r['base_latency_ms']:.1f} ms)", **t}))
    sections["targets"] = markdown(rows, ["target"] + RATIO_COLUMNS[2:])
    band_rows = []
    for b in bands:
        vals = {k: [t[k] for t in b["thresholds"]] for k in RATIO_COLUMNS[2:7]}
        band_rows.append({"variation": b["variation"],
                          **{k: f"{min(v):.2f}-{max(v):.2f}" for k, v in vals.items()}})
    sections["sensitivity"] = markdown(band_rows, ["variation"] + RATIO_COLUMNS[2:7])
    return sections
