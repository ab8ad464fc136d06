"""The modes side by side: the bound below every mode, the decomposition of the ratios against
lai, deadline safety with too-early predictions, idle power, per-operator energy and the charge
for clock-gated MACs."""
from dataclasses import asdict

import numpy as np
import pytest

from edgebert.accel.asic12nm import EnergyParams, EnergyParamsError
from edgebert.accel.cost import Schedule
from edgebert.accel.energy import (
    OPERATORS,
    idle_energy_uj,
    operator_energy,
    phase_energy,
    phase_operators,
)
from edgebert.analysis.replay import LAI_VARIANTS, LAYERS, at_v0, decomposition, layer_costs, replay, replay_modes
from edgebert.core.config import load_model_config


def with_(**change):
    return EnergyParams.checked("test", {**asdict(EnergyParams.load()), **change})


@pytest.fixture(scope="module")
def costs():
    p = EnergyParams.load()
    return p, layer_costs(p, Schedule(load_model_config("paper"), 16))


def _all_layers_at_v0_ms(c):
    return c.t1[-1] + (LAYERS - 1) * c.t_layer[-1]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("idle", ["gated", "leak_at_Vmin", "leak_at_V0"])
def test_bound_is_below_every_mode_on_random_workloads(seed, idle):
    p = with_(idle_power=idle)
    c = layer_costs(p, Schedule(load_model_config("paper"), 16))
    rng = np.random.default_rng(seed)
    n = 400
    true = rng.integers(1, 13, n)
    pred = np.where(true == 1, 1, np.clip(true + rng.integers(-5, 6, n), 2, 12))
    target = rng.uniform(0.6, 4.0) * _all_layers_at_v0_ms(c)
    out, refs = replay_modes(c, p, true, pred, target)
    tol = 1e-9
    for m in ("base", "ee", "oracle", "lai-entropy"):              # at least the true exit's work
        fair = out[m]["met"]                                        # a mode that misses may be cheaper
        assert np.all(out["bound"]["energy"][fair] <= out[m]["energy"][fair] + tol), m
    for m in ("lai", "lai-slack"):                                  # lai's own layers
        fair = out[m]["met"]
        assert np.all(refs["bound_at_lai_layers"]["energy"][fair] <= out[m]["energy"][fair] + tol), m
        assert np.all(refs["bound_at_lai_layers"]["energy"] <= refs["oracle_at_lai_layers"]["energy"] + tol)


def test_the_decomposition_multiplies_back_to_the_ratio(costs):
    out = replay()
    for row in out["thresholds"]:
        for m, d in row["decomposition_over_lai"].items():
            assert d["layers_factor"] * d["dvfs_factor"] == pytest.approx(row[f"ratio_{m}_over_lai"], rel=1e-12)
        ee = row["decomposition_over_lai"]["ee"]
        assert ee["dvfs_factor"] == pytest.approx(row["decomposition_over_lai"]["base"]["dvfs_factor"])
        assert row["decomposition_over_lai"]["lai-slack"]["layers_factor"] == pytest.approx(1.0)
    # the factors by hand: layers = EE at V0 over lai's layers at V0
    p, c = costs
    true, pred = np.array([3, 5, 12, 1]), np.array([2, 7, 4, 1])
    dec = decomposition({"ee": 10.0, "lai": 4.0}, {"ee": 10.0, "lai": 5.0})
    assert dec["ee"] == {"ratio": 2.5, "layers_factor": 2.0, "dvfs_factor": 1.25}
    out, refs = replay_modes(c, p, true, pred, 2 * _all_layers_at_v0_ms(c))
    assert refs["v0_at_lai_layers"]["energy"] == pytest.approx(at_v0(c, p, np.minimum(true, pred), 1e9)["energy"]
                                                               - idle_energy_uj(p, 1e9 - refs["v0_at_lai_layers"]["latency"])
                                                               + idle_energy_uj(p, 2 * _all_layers_at_v0_ms(c)
                                                                                - refs["v0_at_lai_layers"]["latency"]))
    assert np.array_equal(out["ee"]["energy"], at_v0(c, p, true, 2 * _all_layers_at_v0_ms(c))["energy"])


@pytest.mark.parametrize("early", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("factor", [1.0, 1.05, 1.3, 2.0])
def test_predictions_too_early_never_miss_a_target_the_all_layer_run_meets(costs, early, factor):
    p, c = costs
    true = np.arange(early + 2, 13)                                 # every exit a prediction can be early for
    pred = true - early
    target = factor * _all_layers_at_v0_ms(c)
    out, _ = replay_modes(c, p, true, pred, target)
    assert out["base"]["met"].all()
    for m in LAI_VARIANTS:
        assert out[m]["met"].all() and not out[m]["planned_miss"].any(), m
    assert (out["lai-entropy"]["exit"] == true).all()               # the entropy decides the exit


@pytest.mark.parametrize("factor", [1.0, 2.0])
def test_every_lai_variant_meets_the_target(factor):
    for row in replay(target_factor=factor)["thresholds"]:
        for m in LAI_VARIANTS:
            assert row["modes"][m]["target_met_fraction"] >= 0.99, (row["threshold"], m)


def test_idle_power_limit_cases(costs):
    p, c = costs
    gated, vmin, v0 = (with_(idle_power=s) for s in ("gated", "leak_at_Vmin", "leak_at_V0"))
    assert idle_energy_uj(gated, 50.0) == 0.0
    assert idle_energy_uj(v0, 50.0) >= idle_energy_uj(vmin, 50.0) >= idle_energy_uj(gated, 50.0)
    assert idle_energy_uj(v0, 0.0) == 0.0 and idle_energy_uj(v0, -3.0) == 0.0      # no slack, no idle
    assert idle_energy_uj(v0, 2.0) == pytest.approx(v0.p_leak_mw * 2.0)           # mW x ms = uJ
    rows = {s: replay(q, target_factor=f)["thresholds"][2] for s, q in (("g", gated), ("m", vmin), ("0", v0))
            for f in [2.0]}
    for m in ("base", "ee", "lai", "bound"):
        e = [rows[k]["modes"][m]["energy_uj"] for k in ("g", "m", "0")]
        assert e[0] <= e[1] <= e[2], m
    # base at a target equal to its own latency has no slack: the same energy under every setting
    base = [replay(q, target_factor=1.0)["thresholds"][0]["modes"]["base"]["energy_uj"] for q in (gated, v0)]
    assert base[0] == pytest.approx(base[1])
    with pytest.raises(EnergyParamsError, match="idle_power"):
        with_(idle_power="off")


def test_per_operator_energy_sums_to_the_total():
    p = EnergyParams.load()
    sched = Schedule(load_model_config("tiny"), 16)
    c1, c2 = sched.phase1([9] * 20), sched.phase2(20, 3)
    for counters, layers, embed in ((c1, 1, True), (c2, 3, False)):
        for v in (p.vmin, 0.62, p.v0):
            ops, ms = phase_energy(p, sched, 20, layers, embed, counters, v)
            assert set(ops) == set(OPERATORS)
            dyn = (v / p.v0) ** 2
            sfu = sum(sched.sfu_elements(20, layers, embed).values())
            total = ((counters["macs"] * p.e_mac_pj + sfu * p.e_sfu_pj + counters["cycles"] * p.e_cycle_pj) * dyn
                     + p.p_leak_mw * 1e-3 * p.leak_scale(v) * ms * 1e-3 * 1e12
                     + counters["offchip_words"] * 32 * p.e_offchip_pj_per_bit) * 1e-6
            assert sum(ops.values()) == pytest.approx(total, rel=1e-12)
            assert ops["softmax"] > 0 and ops["layernorm"] > 0 and ops["gelu"] > 0
    # the contract of operator_energy: any operators, leakage by their own cycles
    q = with_(p_overhead_mw=0.0, e_sfu_pj=0.0, e_mac_pj=1.0)
    out = operator_energy(q, {"a": {"cycles": 1000, "macs": 0, "sfu": 5}, "b": {"cycles": 3000, "macs": 0, "sfu": 0}},
                          q.v0)
    assert out["b"] == pytest.approx(3 * out["a"])
    assert operator_energy(q, {"m": {"cycles": 0, "macs": 10, "gated_macs": 4, "sfu": 0}}, q.v0)["m"] == \
        pytest.approx((6 + 4 * q.gated_mac_fraction) * 1e-6)


def test_gated_mac_charge_limit_cases():
    p = EnergyParams.load()
    sched = Schedule(load_model_config("tiny"), 16)
    c = dict(sched.phase2(20, 3))
    old = sum(phase_energy(p, sched, 20, 3, False, c, 0.6)[0].values())
    gated = {**c, "gated_macs": c["macs"] // 3}
    full = with_(gated_mac_fraction=1.0)
    assert sum(phase_energy(full, sched, 20, 3, False, gated, 0.6)[0].values()) == pytest.approx(old, rel=1e-12)
    assert sum(phase_energy(p, sched, 20, 3, False, {**c, "gated_macs": 0}, 0.6)[0].values()) == pytest.approx(old)
    less = sum(phase_energy(p, sched, 20, 3, False, gated, 0.6)[0].values())
    saved = (c["macs"] // 3) * (1 - p.gated_mac_fraction) * p.e_mac_pj * (0.6 / p.v0) ** 2 * 1e-6
    assert old - less == pytest.approx(saved, rel=1e-9)
    ops = phase_operators(sched, 20, 3, False, {**c, "gated_macs": c["macs"]})      # every MAC gated
    assert ops["matmul"]["gated_macs"] + ops["offramp"]["gated_macs"] == c["macs"]
    with pytest.raises(EnergyParamsError, match="gated_mac_fraction"):
        with_(gated_mac_fraction=1.5)
