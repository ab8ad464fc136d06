"""The distillation set a stage trains on: which sample sets it joins, in what order."""
import json

import numpy as np
import pytest
import torch

from edgebert.train import corpus
from edgebert.train.pipeline import STEPS, Run


def _run(tmp_path, stage_hp: dict) -> Run:
    glue = tmp_path / "glue" / "SST-2"
    glue.mkdir(parents=True)
    rows = [f"sentence number {i} is {'good' if i % 2 else 'bad'}\t{i % 2}" for i in range(30)]
    (glue / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    out = tmp_path / "run"
    out.mkdir()
    cfg = {"task": "sst2", "model": "tiny", "seed": 0, "validation_size": 5,
           "embedding": {"path": "models/tiny/embedding.npz"}, "augment": {"samples": 3},
           "stages": {"s": stage_hp}}
    (out / "augmented.jsonl").write_text("".join(json.dumps({"a": f"aug {i}", "b": None}) + "\n" for i in range(3)))
    (out / "augmented_sentences.jsonl").write_text(
        "".join(json.dumps({"a": f"a long sentence {i}", "b": None}) + "\n" for i in range(4)))
    np.savez(out / "teacher_logits.npz", train=np.zeros((25, 2), np.float32),
             val=np.zeros((5, 2), np.float32), augmented=np.ones((3, 2), np.float32))
    np.savez(out / "teacher_logits_sentences.npz", augmented=np.full((4, 2), 2.0, np.float32))
    return Run(cfg, out, tmp_path / "glue")


@pytest.mark.parametrize("augmented,sentences,expect", [
    (False, False, [0.0] * 25),
    (True, False, [0.0] * 25 + [1.0] * 3),
    (True, True, [0.0] * 25 + [1.0] * 3 + [2.0] * 4),
    (False, True, [0.0] * 25 + [2.0] * 4),
])
def test_distill_set_joins_the_requested_sets(tmp_path, augmented, sentences, expect):
    run = _run(tmp_path, {"augmented": augmented, "sentences": sentences})
    enc, z, y = run._distill_set("s")
    assert len(enc) == len(z) == len(y) == len(expect)
    assert z[:, 0].tolist() == expect
    assert (y[25:] == -1).all() and set(y[:25].tolist()) <= {0, 1}
    assert len(run.encoded("train")) == 25     # the cached split is not extended in place


def test_sentence_steps_are_skipped_without_config(tmp_path):
    run = _run(tmp_path, {})
    assert "skipped" in run.step_sentence_data()
    assert "skipped" in run.step_sentence_tuning()
    assert run._backbone() == run.path("stage1.safetensors")
    assert "skipped" in run.step_screen()                # only a search trial's config has a screen
    assert STEPS.index("stage1") < STEPS.index("screen") < STEPS.index("sentence_tuning") < STEPS.index("stage2")


def test_stage2_can_start_from_a_package(tmp_path):
    from edgebert.core.paths import REPO_ROOT
    run = _run(tmp_path, {})
    run.cfg["stages"] = {"stage2": {"init_from": "missing/weights.safetensors"}}
    assert "skipped" in run.step_stage1()
    with pytest.raises(FileNotFoundError, match="init_from"):
        run._backbone()
    run.cfg["stages"]["stage2"]["init_from"] = "models/tiny/sst2/weights.safetensors"
    assert run._backbone() == REPO_ROOT / "models/tiny/sst2/weights.safetensors"
    run.cfg["stages"]["stage1"] = {}
    with pytest.raises(ValueError, match="keep one"):
        run.step_stage1()
    run.cfg["stages"] = {"stage2": {}}
    with pytest.raises(ValueError, match="nothing to start from"):
        run.step_stage1()


def _glue_file(root, folder: str, header: str, rows: list[str]) -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    (root / folder / "train.tsv").write_text(header + "\n" + "\n".join(rows) + "\n")


def test_general_corpus_keeps_validation_out_dedupes_and_filters(tmp_path):
    run = _run(tmp_path, {})
    glue = tmp_path / "glue"
    _glue_file(glue, "MRPC", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String",
               ["1\t1\t2\tthe market rose sharply on monday morning\tshares rose on monday",
                "0\t3\t4\tthe market rose sharply on monday morning\tit rained in paris all week long"])
    _glue_file(glue, "RTE", "index\tsentence1\tsentence2\tlabel",
               ["0\ta cat sat on the warm mat today\ta cat sat\tentailment"])
    def general_sentences(corpora, min_words):
        return corpus.glue_sentences(corpora, min_words, run.task.folder, run.data["train"], run.glue_dir)
    texts = general_sentences(["SST-2", "MRPC", "RTE"], min_words=5)
    own = [e.text_a for e in run.data["train"]]
    held_out = {e.text_a for e in run.data["val"]}
    assert texts[:len(own)] == own and not held_out & set(texts)
    assert texts[len(own):] == ["the market rose sharply on monday morning",
                                "it rained in paris all week long", "a cat sat on the warm mat today"]
    with pytest.raises(ValueError, match="no sentence reader"):
        general_sentences(["CoLA"], 5)
    _glue_file(glue, "RTE", "index\tsentence1\tsentence2\tlabel", ["0\tonly one sentence"])
    with pytest.raises(ValueError, match="row 2 has 2 columns"):
        general_sentences(["RTE"], 5)


def test_general_step_is_optional_and_exclusive_with_init_from(tmp_path):
    run = _run(tmp_path, {})
    assert "skipped" in run.step_general()
    assert STEPS.index("general") < STEPS.index("stage1")
    run.cfg["stages"] = {"general": {"corpora": ["SST-2"]}, "stage1": {"init_from": "x.safetensors"}}
    run.cfg["embedding"] = {"path": "models/tiny/embedding.npz"}
    torch.save({"position": torch.zeros(512, 128), "type": torch.zeros(2, 128)},
               run.path("embedding_init.pt"))
    with pytest.raises(ValueError, match="keep one"):
        run.step_stage1()
    del run.cfg["stages"]["stage1"]["init_from"]
    with pytest.raises(FileNotFoundError, match="general.safetensors, which does not exist"):
        run.step_stage1()
    run.cfg["stages"]["general"] = {}
    assert "skipped" in run.step_general()
    run.cfg["stages"]["general"] = {"epochs": 1}
    with pytest.raises(ValueError, match="needs \"corpora\".*or \"reviews\""):
        run.step_general()
