"""The 12 nm energy model: limit cases, parameter validation, the calibration replay against
the expected physics, and the generated tables of docs/energy_model.md."""
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from edgebert.accel.asic12nm import PARAMS, EnergyParams, EnergyParamsError
from edgebert.accel.cost import Schedule
from edgebert.accel.energy import phase_energy
from edgebert.analysis.replay import ee_exit, lai, layer_costs, load_exit_data, replay
from edgebert.core.config import load_model_config
from edgebert.core.docgen import read_sections

DOC = Path(__file__).resolve().parents[2] / "docs" / "energy_model.md"


def with_(**change):
    return EnergyParams.checked("test", {**asdict(EnergyParams.load()), **change})


def test_frequency_is_monotonic_in_voltage():
    p = EnergyParams.load()
    volts = np.linspace(p.vmin, p.v0, 50)
    f = [p.freq(v) for v in volts]
    assert all(a < b for a, b in zip(f, f[1:])) and f[-1] == pytest.approx(p.f0_mhz)
    assert p.leak_scale(0.5) == pytest.approx(0.336, abs=0.001)        # HP14 (docs/design.md section 8.4)


def test_without_leakage_ee_over_bound_is_the_voltage_ratio_squared():
    p = with_(p_leak_mw=0.0, e_switch_nj=0.0, t_switch_ns=0.0, e_offchip_pj_per_bit=0.0, idle_power="gated")
    out = replay(p, target_factor=100.0)                  # so loose that every layer runs at Vmin
    for row in out["thresholds"]:
        assert row["ratio_ee_over_bound"] == pytest.approx((p.v0 / p.vmin) ** 2, rel=1e-9)


def test_dynamic_energy_scales_with_v_squared_and_leakage_with_time():
    p = with_(p_leak_mw=0.0)
    sched = Schedule(load_model_config("tiny"), 16)
    c = sched.phase2(20, 3)
    hi, t_hi = phase_energy(p, sched, 20, 3, False, c, p.v0)
    lo, t_lo = phase_energy(p, sched, 20, 3, False, c, p.vmin)
    assert sum(hi.values()) / sum(lo.values()) == pytest.approx((p.v0 / p.vmin) ** 2)
    assert t_lo / t_hi == pytest.approx(p.freq(p.v0) / p.freq(p.vmin))
    leaky = with_(p_overhead_mw=0.0, e_mac_pj=1e-9, e_sfu_pj=0.0, e_offchip_pj_per_bit=0.0)
    e, t = phase_energy(leaky, sched, 20, 3, False, c, leaky.vmin)
    assert sum(e.values()) - c["macs"] * 1e-9 * 1e-6 * (leaky.vmin / leaky.v0) ** 2 == pytest.approx(leaky.p_leak_mw * 1e-3 * leaky.leak_scale(leaky.vmin) * t * 1e-3 * 1e6)


@pytest.mark.parametrize("factor", [1.0, 1.1, 1.5, 2.0, 4.0])
def test_an_exact_predictor_never_misses_the_target(factor):
    p = EnergyParams.load()
    ent, _ = load_exit_data()
    c = layer_costs(p, Schedule(load_model_config("paper"), 16))
    base = c.t1[-1] + 11 * c.t_layer[-1]
    true = ee_exit(ent, 0.25)
    assert lai(c, p, true, true, factor * base)["met"].all()


def test_replay_meets_the_expected_physics():
    out = replay(with_(idle_power="gated"))               # EdgeBERT's per-inference accounting
    assert [r["threshold"] for r in out["thresholds"]] == [0.20, 0.25, 0.30, 0.35]
    assert out["modes"] == ["base", "ee", "lai", "lai-slack", "oracle", "bound", "lai-entropy"]
    for r in out["thresholds"]:
        assert 2.6 <= r["ratio_base_over_ee"] <= 3.45
        assert r["ratio_ee_over_bound"] >= 2.2 and r["ratio_base_over_bound"] >= 6.0   # the paper's 2.5x / 7x
        assert all(r[f"ratio_{m}_over_bound"] >= 1 for m in ("base", "ee", "oracle", "lai-entropy"))
        assert r["ratio_ee_over_lai"] > r["ratio_ee_over_oracle"]      # lai ends early, at an accuracy cost
    assert [round(r["avg_exit_layer"], 2) for r in out["thresholds"]] == [4.54, 4.13, 3.81, 3.48]


@pytest.mark.parametrize("change,message", [
    ({"levels": 1}, "levels"),
    ({"vmin": 0.9}, "Vth < Vmin < V0"),
    ({"alpha": 0.0}, "alpha"),
    ({"e_mac_pj": -1.0}, "e_mac_pj"),
    ({"leak_poly": [1, 2]}, "leak_poly"),
    ({"p_leak_mw": "5"}, "p_leak_mw"),
])
def test_bad_parameters_are_named(change, message):
    with pytest.raises(EnergyParamsError, match=message):
        with_(**change)


def test_parameter_file_needs_every_value_and_its_source(tmp_path):
    raw = json.loads(PARAMS.read_text())
    del raw["e_mac_pj"]["source"]
    (tmp_path / "p.json").write_text(json.dumps(raw))
    with pytest.raises(EnergyParamsError, match="e_mac_pj.*source"):
        EnergyParams.load(tmp_path / "p.json")
    del raw["e_mac_pj"]
    (tmp_path / "p.json").write_text(json.dumps(raw))
    with pytest.raises(EnergyParamsError, match="e_mac_pj.*missing"):
        EnergyParams.load(tmp_path / "p.json")


def test_energy_doc_tables_are_current():
    from edgebert.analysis.replay import DATA_DIR, TARGET_FACTORS, doc_sections, sensitivity
    p = EnergyParams.load()
    want = doc_sections(p, DATA_DIR, TARGET_FACTORS, sensitivity(p), replay(p))
    have = read_sections(DOC.read_text())
    for name, text in want.items():
        assert have[name].strip() == text.strip(), f"docs/energy_model.md section {name} is stale"
