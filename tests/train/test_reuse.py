"""`teacher_from`: a run takes another run's teacher steps over only where they agree."""
import json

import pytest

from edgebert.core.config import load_model_config
from edgebert.core.errors import InputError
from edgebert.train import reuse


def _source(tmp_path, **overrides):
    src = tmp_path / "src"
    (src / "reports").mkdir(parents=True)
    (src / "teacher").mkdir()
    cfg = {"task": "sst2", "model": "tiny", "seed": 0, "validation_size": 100, "teacher": {"epochs": 1},
           "augment": {"samples": 10}, "embedding": {"path": "models/tiny/embedding.npz", "sparsity": 0.6},
           **overrides}
    (src / "config.json").write_text(json.dumps(cfg))
    (src / "reports" / "teacher.json").write_text(json.dumps({"dev_accuracy": 0.9}))
    return src, cfg


def test_teacher_is_linked_and_its_report_names_the_source(tmp_path):
    src, cfg = _source(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    report = reuse.report_for("teacher", {**cfg, "teacher_from": str(src)}, out, 128)
    assert report["dev_accuracy"] == 0.9 and report["taken_from"] == str(src.resolve())
    assert (out / "teacher").is_symlink() and (out / "teacher").resolve() == src.resolve() / "teacher"
    assert reuse.report_for("teacher", {**cfg, "teacher_from": str(src)}, out, 128)   # again: same link
    assert reuse.report_for("teacher", cfg, out, 128) is None                         # no teacher_from


def test_a_run_with_another_split_or_unfinished_step_is_refused(tmp_path):
    src, cfg = _source(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    with pytest.raises(ValueError, match="differ in seed"):
        reuse.report_for("teacher", {**cfg, "seed": 1, "teacher_from": str(src)}, out, 128)
    with pytest.raises(FileNotFoundError, match="has not finished step 'distill_data'"):
        reuse.report_for("distill_data", {**cfg, "teacher_from": str(src)}, out, 128)
    # an embedding of another width is the run's own to build
    assert reuse.report_for("embedding", {**cfg, "teacher_from": str(src)}, out, 64) is None


def test_a_model_config_may_be_given_inline():
    tiny = load_model_config("tiny")
    assert load_model_config({**tiny.to_dict(), "hidden": 64}).hidden == 64
    with pytest.raises(InputError, match="lacks"):
        load_model_config({"name": "x", "hidden": 64})
