"""The operator characterization: its split of the cycle model, its energies, its shares, the
command line and the generated tables of docs/characterization.md."""
import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebert.accel import cost
from edgebert.accel.asic12nm import EnergyParams
from edgebert.accel.cost import GEMM_OPERATORS, OPERATOR_PHASE, PHASE_CYCLES, Schedule
from edgebert.accel.energy import phase_energy
from edgebert.characterize.operators import (
    ARRAYS,
    CONFIGS,
    SEQS,
    characterize,
    dense_record_words,
    gemm_traffic,
    roof,
    sweep,
)
from edgebert.core.config import load_model_config
from edgebert.core.docgen import read_sections

DOC = Path(__file__).resolve().parents[2] / "docs" / "characterization.md"


@pytest.fixture(scope="module")
def rows():
    return sweep()


def _by_phase(ops: dict) -> Counter:
    out = Counter()
    for op, c in ops.items():
        if OPERATOR_PHASE[op]:
            out[OPERATOR_PHASE[op]] += c["cycles"]
        else:
            assert c["cycles"] == 0, f"{op} runs on the drain path and owns no cycles"
    return out


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("n", (8, 16))
@pytest.mark.parametrize("s", (1, 17, 128, 300))
@pytest.mark.parametrize("ramps_in_ddr", (False, True))
def test_operator_cycles_sum_to_the_cycle_model(config, n, s, ramps_in_ddr):
    cfg = load_model_config(config)
    ramp_words = tuple(7 + i for i in range(2 * cfg.layers)) if ramps_in_ddr else None
    sched = Schedule(cfg, n, ramp_words=ramp_words)
    words = [dense_record_words(cfg.embed_dim) - (i % 3) for i in range(s)]
    ops = cost.sentence_operators(sched, words)
    whole = sched.phase1(words) + sched.phase2(s, cfg.layers - 1)
    got = _by_phase(ops)
    assert {k: got[k] for k in PHASE_CYCLES} == {k: whole[k] for k in PHASE_CYCLES}
    assert sum(c["cycles"] for c in ops.values()) == whole["cycles"]
    assert sum(c["macs"] for c in ops.values()) == whole["macs"]
    assert sum(c["offchip_words"] for c in ops.values()) == whole["offchip_words"]
    sfu = sched.sfu_elements(s, cfg.layers, True)
    assert sum(c["sfu"] for c in ops.values()) == sum(sfu.values())
    assert ops["softmax"]["sfu"] == sfu["softmax"] and ops["gelu"]["sfu"] == sfu["gelu"]
    # One layer: the six GEMMs, softmax and LayerNorm are the layer's phase counters.
    layer, got = sched.layer(s), _by_phase(cost.layer_operators(sched, s))
    assert {k: got[k] for k in ("linear", "attention", "softmax", "layernorm")} == \
           {k: layer[k] for k in ("linear", "attention", "softmax", "layernorm")}
    assert sum(c["macs"] for c in cost.layer_operators(sched, s).values()) == layer["macs"]


def test_a_split_that_drops_a_gemm_is_caught():
    sched = Schedule(load_model_config("tiny"), 16)
    ops = cost.layer_operators(sched, 64)
    del ops["ffn2"]
    assert _by_phase(ops)["linear"] != sched.layer(64)["linear"]


@pytest.mark.parametrize("config", CONFIGS)
def test_operator_energies_sum_to_the_phase_energies(config):
    cfg, p = load_model_config(config), EnergyParams.load()
    sched, s = Schedule(cfg, 16), 96
    row = characterize(config, s, 16, p)
    words = [dense_record_words(cfg.embed_dim)] * s
    e1, _ = phase_energy(p, sched, s, 1, True, sched.phase1(words), p.v0)
    e2, _ = phase_energy(p, sched, s, cfg.layers - 1, False, sched.phase2(s, cfg.layers - 1), p.v0)
    total = sum(e1.values()) + sum(e2.values())
    assert sum(row["sentence"]["energy_uj"].values()) == pytest.approx(total, rel=1e-12)
    assert row["sentence"]["total_energy_uj"] == pytest.approx(total, rel=1e-12)
    # The SFU-only operator carries exactly its elements' energy; the residual add costs nothing.
    assert row["sentence"]["energy_uj"]["gelu"] == pytest.approx(cfg.layers * s * cfg.ffn * p.e_sfu_pj * 1e-6)
    assert row["sentence"]["energy_uj"]["residual_add"] == 0.0


def test_shares_are_fractions_and_the_top_non_gemm_is_not_a_gemm(rows):
    assert len(rows) == len(CONFIGS) * len(SEQS) * len(ARRAYS)
    for r in rows:
        for level in ("sentence", "layer"):
            t = r[level]
            assert 0.0 < t["gemm_share_cycles"] < 1.0 and 0.0 < t["gemm_share_energy"] < 1.0
            gemm = sum(t["cycles"][op] for op in t["cycles"] if op in GEMM_OPERATORS)
            assert t["gemm_share_cycles"] == pytest.approx(gemm / t["total_cycles"])
        assert r["top_non_gemm"] not in GEMM_OPERATORS
        assert r["analytic_only"] == (r["seq"] > load_model_config(r["config"]).max_len)


@pytest.mark.parametrize("config", ("edge", "paper"))
@pytest.mark.parametrize("n", ARRAYS)
def test_non_gemm_share_of_a_layer_grows_with_length(rows, config, n):
    """Softmax grows with s^2 and the weight GEMMs with s: the non-GEMM share of a layer rises."""
    sel = sorted((r for r in rows if r["config"] == config and r["n"] == n), key=lambda r: r["seq"])
    non_gemm = [1 - r["layer"]["gemm_share_cycles"] for r in sel]
    assert non_gemm == sorted(non_gemm) and non_gemm[-1] > non_gemm[0]
    # A sentence adds 12 off-ramp GEMVs whose cost does not grow with s: from 256 tokens on it rises too.
    long = [1 - r["gemm_share_cycles"] for r in sel if r["seq"] >= 256]
    assert long == sorted(long)


def test_softmax_leads_the_non_gemm_cycles_of_long_sentences(rows):
    for r in rows:
        if r["seq"] >= 256 and r["n"] >= 16:
            assert r["top_non_gemm"] == "softmax", (r["config"], r["seq"], r["n"])


def test_traffic_rule_and_roofline():
    # A 32 x 32 by 32 x 32 weight matmul on a 16 x 16 array: A read twice, B twice, C written once.
    t = gemm_traffic(1, 32, 32, 32, 16, b=1, bias=False)
    assert t["read_bytes"] == 32 * 32 * 2 * 2 + 32 * 32 * 1 * 2 and t["write_bytes"] == 32 * 32 * 2
    assert roof(16) == {"n": 16, "peak_macs_per_cycle": 256, "buffer_bytes_per_cycle": 64,
                        "ridge_macs_per_byte": 4.0, "sfu_elements_per_cycle": 16}
    # No operator runs faster than its roof: the traffic rule and the schedule agree.
    for r in sweep(("tiny", "paper"), (32, 512), ARRAYS):
        rf = roof(r["n"])
        for op, i in r["sentence"]["intensity"].items():
            if i:
                attainable = min(rf["peak_macs_per_cycle"], i * rf["buffer_bytes_per_cycle"])
                assert r["sentence"]["macs_per_cycle"][op] <= attainable + 1e-9, (r["config"], r["seq"], r["n"], op)


def test_cli_prints_rows_and_the_summary_last(tmp_path):
    from edgebert.cli import main
    res = CliRunner().invoke(main, ["characterize", "--configs", "tiny", "--seq", "32,512", "--n", "16",
                                    "--no-torch", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.output.strip().splitlines()]
    rows, summary = lines[:-1], lines[-1]
    assert [(r["config"], r["seq"], r["n"]) for r in rows] == [("tiny", 32, 16), ("tiny", 512, 16)]
    for r in rows:
        assert {"gemm_share_cycles", "gemm_share_energy", "cycles", "energy_uj", "intensity", "read_bytes",
                "write_bytes", "top_non_gemm"} <= set(r)
        assert set(r["cycles"]) == set(cost.OPERATORS)
    assert rows[1]["analytic_only"] and not rows[0]["analytic_only"]
    assert summary["rows"] == 2 and summary["torch_cpu"] == {}
    assert (tmp_path / "characterize.json").is_file() and (tmp_path / "roofline.png").is_file()
    bad = CliRunner().invoke(main, ["characterize", "--seq", "0", "--no-torch", "--out", str(tmp_path)])
    assert bad.exit_code == 2


def test_characterization_doc_tables_are_current():
    from edgebert.characterize.report import TORCH_SECTION, doc_sections
    have = read_sections(DOC.read_text())
    assert TORCH_SECTION in have                        # measured: present, not compared
    for name, text in doc_sections().items():
        assert have[name].strip() == text.strip(), f"docs/characterization.md section {name} is stale"


def test_torch_profile_attributes_every_operator():
    pytest.importorskip("torch")
    from edgebert.characterize.profile import profile
    out = profile("tiny", 16, iters=1)
    shares = out["torch_cpu"]
    assert sum(shares.values()) == pytest.approx(1.0)
    for op in ("qkv", "qk_t", "av", "out_proj", "ffn1", "ffn2", "softmax", "layernorm", "gelu", "offramp",
               "entropy", "embedding"):
        assert shares.get(op, 0.0) > 0.0, op
    assert 0.0 < out["gemm_share_time"] < 1.0
