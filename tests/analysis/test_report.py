"""Reports and the demo: generation on a small run, the summary's figures, and real PNGs with
the expected content."""
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib import image as mpimg

from edgebert.accel.checksum import artifact_sha256
from edgebert.analysis.report import ReportError, build_report, load_run
from edgebert.cli import main
from edgebert.core.tokenization import Tokenizer
from edgebert.runtime.inputs import task_items
from edgebert.runtime.runner import run
from edgebert.sim.backend import CSimBackend

PNGS = ("exit_histogram", "energy_vs_target", "energy_breakdown", "latency", "clock_residency")


@pytest.fixture(scope="module")
def logs(tmp_path_factory, artifact):
    d = tmp_path_factory.mktemp("runs")
    task = artifact["sst2"]
    items = task_items("sst2", Tokenizer(128), 25)
    paths = []
    with CSimBackend("sim") as be:
        for policy in ("base", "ee", "lai", "lai-slack"):
            header = {"task": "sst2", "policy": policy, "target_ms": 6.0, "backend": "csim", "board": "sim",
                      "array_n": 16}
            run(be, task, items, policy, 6.0, d / f"{policy}.jsonl", header, progress=False)
            paths.append(d / f"{policy}.jsonl")
    return paths[:3]             # base, ee, lai; lai-slack's log is in the same folder


def test_measured_modes_and_reprojections_charge_the_same_work_alike(logs, tmp_path):
    """With a measured lai-slack log, the bound (re-projected, at lai's exit layers) is still
    below it: a re-projection takes the gated MACs of the same work from the logs."""
    summary = build_report(logs + [logs[0].with_name("lai-slack.jsonl")], tmp_path)
    modes = summary["modes"]
    assert not modes["lai-slack"].get("reprojected")
    assert summary["energy_uj_bound_at_lai_layers"] <= modes["lai-slack"]["energy_uj"] * (1 + 1e-9)
    assert summary["energy_uj_bound_at_lai_layers"] <= modes["lai"]["energy_uj"] * (1 + 1e-9)
    # lai-slack re-projected from lai's log: the same work; the re-projection starts every
    # sentence at the top clock, the run keeps the clock between sentences (1 nJ a switch)
    again = build_report(logs, tmp_path / "without")
    assert again["modes"]["lai-slack"]["energy_uj"] == pytest.approx(modes["lai-slack"]["energy_uj"], rel=1e-3)


def test_report_summary_and_files(logs, tmp_path):
    summary = build_report(logs, tmp_path)
    modes = summary["modes"]
    assert list(modes) == ["base", "ee", "lai", "lai-slack", "oracle", "bound"]
    assert all(modes[m]["reprojected"] for m in ("lai-slack", "oracle", "bound"))
    for m in modes:
        assert {"accuracy", "avg_exit_layer", "energy_uj", "latency_p99_ms", "target_met_fraction"} <= set(modes[m])
    for m in ("base", "ee", "lai"):
        # the operators, the switches and the idle time add up to the total
        assert sum(modes[m]["energy_breakdown_uj"].values()) == pytest.approx(modes[m]["energy_uj"])
        b = modes[m]["energy_breakdown_uj"]
        assert sum(modes[m]["energy_phase_uj"].values()) + b["switch"] + b["idle"] == \
            pytest.approx(modes[m]["energy_uj"])
        assert b["softmax"] > 0 and b["layernorm"] > 0 and b["gelu"] > 0
    assert summary["idle_power"] == "leak_at_Vmin"
    for m in ("base", "ee", "oracle"):                  # the same work (the true exit) or more
        assert modes["bound"]["energy_uj"] <= modes[m]["energy_uj"] * (1 + 1e-9)
    assert summary["energy_uj_bound_at_lai_layers"] <= modes["lai"]["energy_uj"] * (1 + 1e-9)
    for m, d in summary["decomposition_over_lai"].items():
        assert d["layers_factor"] * d["dvfs_factor"] == pytest.approx(summary[f"ratio_{m}_over_lai"])
        assert summary[f"layers_factor_{m}_over_lai"] == d["layers_factor"]
    assert modes["base"]["avg_exit_layer"] == 12.0
    assert modes["base"]["energy_uj"] > modes["ee"]["energy_uj"] > modes["lai"]["energy_uj"]
    assert summary["ratio_base_over_lai"] == pytest.approx(modes["base"]["energy_uj"] / modes["lai"]["energy_uj"])
    assert json.loads((tmp_path / "summary.json").read_text())["modes"]["lai"] == modes["lai"]
    md = (tmp_path / "report.md").read_text()
    for name in PNGS:
        assert f"({name}.png)" in md
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = mpimg.imread(png)
        assert img.shape[0] > 200 and img.shape[1] > 400 and img[..., :3].std() > 0.05   # not blank


def test_breakdown_plot_shows_the_matmul_share(logs, tmp_path):
    build_report(logs, tmp_path)
    img = (mpimg.imread(tmp_path / "energy_breakdown.png")[..., :3] * 255).round().astype(int)
    blue = np.all(np.abs(img - np.array([31, 119, 180])) <= 2, axis=-1)            # matplotlib tab:blue
    assert blue.mean() > 0.02                                                        # the matmul bars


def test_bad_logs_are_named(logs, tmp_path):
    with pytest.raises(ReportError, match="not found"):
        build_report([tmp_path / "none.jsonl"], tmp_path)
    junk = tmp_path / "junk.jsonl"
    junk.write_text("{}\n")
    with pytest.raises(ReportError, match="not an edgebert run log"):
        load_run(junk)
    other = tmp_path / "other.jsonl"
    lines = logs[1].read_text().splitlines()
    head = json.loads(lines[0])
    head["run"]["target_ms"] = 3.0
    other.write_text("\n".join([json.dumps(head)] + lines[1:]) + "\n")
    with pytest.raises(ReportError, match="differ in target_ms"):
        build_report([logs[0], other], tmp_path)


def test_demo_command(tmp_path):
    r = CliRunner().invoke(main, ["demo", "--limit", "20", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.strip().splitlines()[-1])
    assert {"modes", "latency_target_ms", "ratio_base_over_lai", "ratio_ee_over_lai"} <= set(out)
    assert set(out["modes"]) == {"base", "ee", "lai", "lai-slack", "lai-binned", "oracle", "bound"}
    assert set(out["steps"].values()) == {"ran"} and "verify" in out["steps"]
    assert (tmp_path / "report.md").is_file() and (tmp_path / "pareto.png").is_file()
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep[0]["threshold"] == 0.0 and sweep[0]["avg_exit_layer"] == 12.0      # nothing is below 0
    exits = [row["avg_exit_layer"] for row in sweep]
    assert all(a >= b for a, b in zip(exits, exits[1:]))                            # later T, earlier exit


def test_report_finds_the_artifact_of_the_run_and_refuses_another(tmp_path, artifact_dir):
    """A log records its artifact's checksum; the report loads that artifact, and refuses a log
    whose artifact is not among the model folders, naming both checksums."""
    copy = tmp_path / "model" / "accel"
    shutil.copytree(artifact_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["note"] = "a copy"
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=1))
    mine, shipped = artifact_sha256(copy), artifact_sha256(artifact_dir)
    assert mine != shipped
    log = tmp_path / "ee.jsonl"
    r = CliRunner().invoke(main, ["run", "--task", "sst2", "--policy", "ee", "--limit", "4", "--model-dir",
                                  str(tmp_path / "model"), "--out", str(log), "--json"])
    assert r.exit_code == 0, r.output
    head = json.loads(log.read_text().splitlines()[0])["run"]
    assert head["artifact_sha256"] == mine and head["task"] == "sst2"
    refused = CliRunner().invoke(main, ["report", str(log), "--out", str(tmp_path / "a")])
    assert refused.exit_code == 2 and mine in refused.output and shipped in refused.output, refused.output
    assert not (tmp_path / "a" / "report.md").exists()
    found = CliRunner().invoke(main, ["report", str(log), "--out", str(tmp_path / "b"), "--model-dir",
                                      str(tmp_path / "model"), "--json"])
    assert found.exit_code == 0, found.output
    assert json.loads(found.output.strip().splitlines()[-1])["modes"]["ee"]["n"] == 4
