"""Deployment as named steps: a report per step, finished steps skipped, an interrupted flow
resumed without redoing what was done, and a bit-exact mismatch stopping the flow."""
import json
import shutil

import pytest
from click.testing import CliRunner

from edgebert.accel.checksum import artifact_dir, artifact_sha256
from edgebert.cli import main
from edgebert.deploy import flow as deploy
from edgebert.deploy.flow import STEPS, VerifyError, run_flow
from edgebert.runtime.policy import MODES

LIMIT = 20


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_flow(out, limit=LIMIT, progress=False)


def _mtimes(out, steps):
    return {s: (out / f"{s}.json").stat().st_mtime_ns for s in steps}


def test_every_step_runs_once_and_writes_its_report(first):
    out, result = first
    assert result["steps"] == {s: "ran" for s in STEPS}
    sha = artifact_sha256(artifact_dir())
    for s in STEPS:
        report = json.loads((out / f"{s}.json").read_text())
        assert report["step"] == s and report["inputs"]["artifact_sha256"] == sha
    assert result["results"]["export"]["sha256"] == sha and "sst2" in result["results"]["export"]["tasks"]
    verify = result["results"]["verify"]
    assert verify["n"] == LIMIT and verify["mismatches"] == 0 and verify["cycle_mismatches"] == 0
    head = json.loads((out / "runs" / "lai.jsonl").read_text().splitlines()[0])["run"]
    assert head["artifact_sha256"] == sha and head["task"] == "sst2" and head["input"] == f"dev[:{LIMIT}]"
    assert set(result["summary"]["modes"]) == set(MODES)
    assert len(json.loads((out / "sweep.json").read_text())) == result["results"]["projection"]["thresholds"]
    # every task of the artifact through one accelerator, the flow's task first; its sentences
    # give what the single-task LAI run gave
    mt = result["summary"]["multitask"]
    assert list(mt["tasks"]) == ["sst2", "mrpc"] and mt["n"] == 2 * LIMIT and mt["switches"] == 2 * LIMIT - 1
    lai = result["summary"]["modes"]["lai"]
    assert (mt["tasks"]["sst2"]["accuracy"], mt["tasks"]["sst2"]["avg_exit_layer"]) == \
        (lai["accuracy"], lai["avg_exit_layer"])
    assert mt["tasks"]["sst2"]["energy_uj"] == pytest.approx(lai["energy_uj"], rel=1e-2)
    assert json.loads((out / "summary.json").read_text())["multitask"] == mt
    assert "## Multi-task: SST-2 and MRPC on one accelerator" in (out / "report.md").read_text()


def test_an_interrupted_flow_resumes_without_redoing_finished_steps(first):
    out, result = first
    # Killed during the LAI run: its step report and those after it are missing, and its log
    # ends in a record cut short (the multi-task log too, as if cut in an earlier flow).
    redone = STEPS[STEPS.index("run_lai"):]
    for step in redone:
        (out / f"{step}.json").unlink()
    log, mt_log = out / "runs" / "lai.jsonl", out / "runs" / "multitask.jsonl"
    for path in (log, mt_log):
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines[:8]) + lines[8][:20])
    kept = [s for s in STEPS if s not in redone]
    before = _mtimes(out, kept)
    again = run_flow(out, limit=LIMIT, progress=False)
    assert again["steps"] == {s: "ran" if s in redone else "skipped" for s in STEPS}
    assert _mtimes(out, kept) == before
    ids = [json.loads(line)["id"] for line in log.read_text().splitlines()[1:]]
    assert sorted(ids) == sorted(f"sst2-dev-{i}" for i in range(LIMIT))
    ids = [json.loads(line)["id"] for line in mt_log.read_text().splitlines()[1:]]
    assert ids == [f"{t}-dev-{i}" for i in range(LIMIT) for t in ("sst2", "mrpc")]
    assert again["summary"]["multitask"]["switches"] == result["summary"]["multitask"]["switches"]
    for mode, m in result["summary"]["modes"].items():
        r = again["summary"]["modes"][mode]
        assert (r["accuracy"], r["avg_exit_layer"]) == (m["accuracy"], m["avg_exit_layer"])
        # the resumed run starts from the overlay's clock: at most one more switch (1 nJ)
        assert r["energy_uj"] == pytest.approx(m["energy_uj"], rel=1e-3)
    # With every report in place, nothing runs.
    assert set(run_flow(out, limit=LIMIT, progress=False)["steps"].values()) == {"skipped"}


def test_other_inputs_rerun_the_steps_that_depend_on_them(first, tmp_path):
    out = tmp_path / "demo"
    shutil.copytree(first[0], out)
    result = run_flow(out, target_ms=5.0, limit=LIMIT, progress=False)
    assert result["steps"] == {s: "skipped" if s in ("export", "verify") else "ran" for s in STEPS}
    head = json.loads((out / "runs" / "ee.jsonl").read_text().splitlines()[0])["run"]
    assert head["target_ms"] == 5.0 and len((out / "runs" / "ee.jsonl").read_text().splitlines()) == LIMIT + 1
    assert result["summary"]["latency_target_ms"] == 5.0


def test_the_demo_prints_the_multitask_run_and_puts_it_in_the_json(first):
    out, result = first
    args = ["demo", "--limit", str(LIMIT), "--out", str(out)]
    text = CliRunner().invoke(main, args)
    assert text.exit_code == 0, text.output
    mt = result["summary"]["multitask"]
    assert "multitask: sst2+mrpc alternating through one accelerator under lai" in text.output
    assert f"{mt['per_switch']['mrpc']['count']} switches to mrpc" in text.output
    as_json = CliRunner().invoke(main, args + ["--json"])
    summary = json.loads(as_json.output.splitlines()[-1])
    assert set(summary["steps"].values()) == {"skipped"}
    assert summary["multitask"]["switches"] == mt["switches"] and summary["multitask"]["tasks"].keys() == mt["tasks"].keys()


def test_a_mismatch_stops_the_flow(tmp_path, monkeypatch):
    monkeypatch.setattr(deploy, "verify", lambda *a, **k: {"n": 5, "mismatches": 1, "cycle_mismatches": 0,
                                                           "first_mismatches": [{"index": 3, "fields": ["logits"]}]})
    with pytest.raises(VerifyError, match="1 of 5 sentences"):
        run_flow(tmp_path, limit=5, progress=False)
    assert (tmp_path / "export.json").is_file()
    assert not (tmp_path / "verify.json").exists() and not (tmp_path / "runs").exists()


def test_the_sweep_charges_the_work_the_ee_run_measured(first, artifact):
    """The threshold sweep (golden trace + cost model) at the shipped threshold costs what the
    projection of the measured ee run costs without its idle time: gated MACs included."""
    from edgebert.accel.asic12nm import EnergyParams
    from edgebert.analysis.sweep import threshold_sweep
    from edgebert.core.tokenization import Tokenizer
    from edgebert.runtime.inputs import task_items
    hw = artifact["sst2"]
    items = task_items("sst2", Tokenizer(hw.cfg.max_len), LIMIT)
    row = threshold_sweep(hw, items, 16, EnergyParams.load(), thresholds=[hw.threshold_q16 / 2 ** 16],
                          progress=False)[0]
    ee = first[1]["summary"]["modes"]["ee"]
    parts = ee["energy_breakdown_uj"]
    assert row["avg_exit_layer"] == ee["avg_exit_layer"] and row["accuracy"] == ee["accuracy"]
    assert row["energy_uj"] == pytest.approx(ee["energy_uj"] - parts["idle"] - parts["switch"], rel=1e-9)
