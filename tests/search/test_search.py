"""The configuration search: points rejected before training, the trial as a training run, the
Pareto front, and a two-trial search on a local Ray that resumes from its folder.

The trials here train on a stand-in teacher run (logits made from the labels) and a training set
cut from the shipped dev sentences: they check the search's mechanics, not its accuracy."""
import json

import numpy as np
import pytest
import torch

from edgebert.accel.candidate import latency_lower_bound_ms, latency_upper_bound_ms, sized_build
from edgebert.core.tasks import encode_examples, get_task, read_examples, split_train
from edgebert.core.tokenization import Tokenizer
from edgebert.search import driver, pareto
from edgebert.search.space import load_space, model_config, rejection, sample_points, shipped_dims, surely_in_time

SST2 = get_task("sst2")
LENGTHS = [len(e) for e in encode_examples(read_examples(SST2, "dev"), Tokenizer(128))]
SMALL = {"hidden": 48, "heads": 4, "ffn": 128, "embed_dim": 128, "layers": 3, "encoder_sparsity": 0.5,
         "max_len": 32, "n": 8}


def test_a_point_the_board_cannot_hold_is_rejected_before_training():
    too_wide = {**SMALL, "n": 12}            # 144 MACs plus the special-function units > 220 DSP
    why = rejection(too_wide, "pynq-z2", 2.0, LENGTHS)
    assert "does not fit pynq-z2: dsp" in why["reason"]
    assert why["resources"]["dsp"] > why["resources"]["capacity"]["dsp"]
    assert rejection(SMALL, "pynq-z2", 2.0, LENGTHS) == {}


def test_the_latency_bounds_hold_and_the_lower_one_rejects_the_shipped_model_at_2_ms():
    tiny = shipped_dims("pynq-z2")
    assert tiny == {"hidden": 128, "heads": 4, "ffn": 512, "embed_dim": 128, "layers": 12, "encoder_sparsity": 0.5,
                    "max_len": 64, "n": 8}
    why = rejection(tiny, "pynq-z2", 2.0, LENGTHS)
    assert why["reason"].startswith("latency lower bound") and why["latency_lower_bound_ms"] > 2.0
    # below any model's time: phase 1 alone with every head dead and every embedding row empty
    from edgebert.accel.cost import Schedule
    cfg = model_config(SMALL)
    build = sized_build("pynq-z2", cfg, 8, 60)
    bound = latency_lower_bound_ms(build, cfg, [20], 100.0)
    ramps = (200, 10) * cfg.layers                               # off-ramp records, sparse
    sched = Schedule(cfg, 8, 4, ramps)
    real = (sched.phase1_cycles([4 + 20] * 20) + sched.phase2_cycles(20, 1)) / 1e5     # exits at layer 2
    assert 0 < bound < real < latency_upper_bound_ms(build, cfg, [20], 100.0)


def test_sampling_keeps_only_feasible_points_and_accounts_for_every_rejection():
    space = load_space("pynq-z2")
    points, rejected = sample_points(space, 6, 0, "pynq-z2", 2.0, LENGTHS, [{**SMALL, "n": 12}])
    assert len(points) == 6 and all(rejection(p, "pynq-z2", 2.0, LENGTHS) == {} for p in points)
    assert sum(surely_in_time(p, "pynq-z2", 2.0, LENGTHS) for p in points) == 3     # half sure, half maybe
    assert rejected[0]["point"]["n"] == 12 and rejected and all(r["reason"] for r in rejected)
    assert len({json.dumps(p, sort_keys=True) for p in points}) == 6


def test_pareto_front_keeps_exactly_the_undominated_points():
    pts = [{"id": "a", "accuracy": 0.80, "latency_ms": 1.0, "energy_uj": 5.0},
           {"id": "b", "accuracy": 0.82, "latency_ms": 1.5, "energy_uj": 6.0},
           {"id": "c", "accuracy": 0.79, "latency_ms": 1.2, "energy_uj": 5.5},    # dominated by a
           {"id": "d", "accuracy": 0.78, "latency_ms": 0.8, "energy_uj": 7.0}]
    assert [p["id"] for p in pareto.front(pts)] == ["b", "a", "d"]
    assert pareto.best(pareto.front(pts))["id"] == "b"


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    """A stand-in for a finished teacher run: GLUE-style training data (dev sentences), logits
    from the labels, a handful of augmented samples, and the embedding start values."""
    root = tmp_path_factory.mktemp("teacher")
    glue = root / "glue" / "SST-2"
    glue.mkdir(parents=True)
    dev = read_examples(SST2, "dev")[:400]
    glue.joinpath("train.tsv").write_text("sentence\tlabel\n" + "".join(f"{e.text_a}\t{e.label}\n" for e in dev))
    cfg = {"task": "sst2", "model": "tiny", "seed": 0, "validation_size": 60, "teacher": {"epochs": 1},
           "augment": {"samples": 30}, "embedding": {"path": "models/tiny/embedding.npz", "sparsity": 0.6},
           "stages": {}}
    run = root / "run"
    (run / "reports").mkdir(parents=True)
    (run / "teacher").mkdir()
    run.joinpath("config.json").write_text(json.dumps(cfg))
    train, val = split_train(dev, 60, 0)
    logits = lambda ex: np.stack([np.where(np.array([e.label for e in ex]) == c, 2.0, -2.0) for c in (0, 1)], 1)
    aug = dev[:30]
    np.savez(run / "teacher_logits.npz", train=logits(train), val=logits(val), augmented=logits(aug))
    run.joinpath("augmented.jsonl").write_text("".join(json.dumps({"a": e.text_a, "b": None}) + "\n" for e in aug))
    torch.save({"position": torch.randn(512, 128) * 0.02, "type": torch.randn(2, 128) * 0.02},
               run / "embedding_init.pt")
    for step in ("teacher", "embedding", "distill_data"):
        run.joinpath("reports", f"{step}.json").write_text(json.dumps({"stand_in": True}))
    space = root / "space.json"
    space.write_text(json.dumps({"default": {k: [v] for k, v in SMALL.items() if k != "hidden"}
                                 | {"hidden": [48, 64]}}))
    return {"run": run, "glue": root / "glue", "space": space}


def test_an_infeasible_configuration_never_reaches_a_trial(teacher_run, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(driver, "run_tune", lambda out, configs, *a: seen.extend(configs) or
                        {"resumed": False, "errors": 0})
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"default": {k: [v] for k, v in SMALL.items()} | {"n": [8, 12]}}))
    out = driver.search("pynq-z2", 2.0, 4, tmp_path / "s", teacher_run["run"], teacher_run["glue"], 4, 2, 0,
                        LENGTHS, space_path=space)
    assert [c["screen"]["n"] for c in seen] == [8]          # n = 12 went no further than the plan
    plan = json.loads((tmp_path / "s" / "plan.json").read_text())
    assert any(r["point"] == {**SMALL, "n": 12} and "dsp over capacity" in r["reason"] for r in plan["rejected"])
    assert out["rejected_before_training"] == len(plan["rejected"])
    assert out["pareto"] == [] and out["finished"] == 0


def test_two_trial_search_on_local_ray_builds_a_front_and_resumes(teacher_run, tmp_path):
    pytest.importorskip("ray.tune")
    out = tmp_path / "search"
    args = ("pynq-z2", 2.0, 2, out, teacher_run["run"], teacher_run["glue"], 4, 2, 0, LENGTHS)
    first = driver.search(*args, space_path=teacher_run["space"])
    assert first["engine"] == "ray" and first["trials"] == 2 and not first["resumed"]
    # the first trial at the rung always goes on; the other may be stopped there by the Pareto rule
    assert first["finished"] >= 1 and first["finished"] + first["stopped_early"] == 2 and first["errors"] == 0
    assert first["pareto"], "an empty front"
    for p in first["pareto"]:
        assert {"config", "accuracy", "latency_ms", "energy_uj", "fits", "resources"} <= set(p)
        res = p["resources"]
        assert p["fits"] and p["latency_ms"] <= 2.0 and res["codes_needed"] <= res["codes_capacity"]
    best = json.loads((out / "best" / "trial_config.json").read_text())
    assert best["search"]["id"] == first["best"] and best["stages"]["stage1"]["steps"] == 4
    assert json.loads((out / "best" / "train_config.json").read_text())["stages"]["stage2"]
    assert (out / "pareto.png").stat().st_size > 0
    stage1 = out / "trials" / first["best"] / "reports" / "stage1.json"
    before = stage1.stat().st_mtime_ns
    again = driver.search(*args, space_path=teacher_run["space"])
    assert again["resumed"] and again["pareto"] == first["pareto"]
    assert stage1.stat().st_mtime_ns == before                   # nothing trained twice
    with pytest.raises(Exception, match="other settings"):
        driver.search("pynq-z2", 3.0, *args[2:], space_path=teacher_run["space"])


def test_pareto_rungs_stop_what_misses_the_target_or_half_the_rung_dominates():
    pytest.importorskip("ray.tune")
    from ray.tune.schedulers import TrialScheduler

    from edgebert.search.scheduler import ParetoRungs, rungs
    assert rungs(4) == [2, 4] and rungs(8) == [2, 4, 8] and rungs(1) == []
    s = ParetoRungs([2])
    point = lambda acc, ms, uj, meets=True: {"accuracy": acc, "latency_ms": ms, "energy_uj": uj, "meets_target": meets}
    assert s.decide(2, point(0.80, 1.0, 1.5)) == TrialScheduler.CONTINUE
    assert s.decide(2, point(0.70, 1.2, 1.6)) == TrialScheduler.STOP          # dominated by 1 of 2
    assert s.decide(2, point(0.76, 0.6, 1.0)) == TrialScheduler.CONTINUE      # a trade-off: faster, less accurate
    assert s.decide(2, point(0.90, 3.0, 1.0, meets=False)) == TrialScheduler.STOP
    # results of other reports, and the last report (the screen), never stop a trial
    assert s.on_trial_result(None, None, {"training_iteration": 3, "phase": "stage1"}) == TrialScheduler.CONTINUE


def test_search_without_a_teacher_run_says_how_to_make_one(tmp_path):
    from click.testing import CliRunner

    from edgebert.cli import main
    r = CliRunner().invoke(main, ["search", "--board", "pynq-z2", "--teacher-run", str(tmp_path / "none"),
                                  "--data", str(tmp_path), "--out", str(tmp_path / "s")])
    assert r.exit_code != 0 and "no finished teacher run" in r.output and "--steps teacher" in r.output
    assert not (tmp_path / "s").exists()
