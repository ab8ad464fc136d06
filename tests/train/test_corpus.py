"""In-domain corpus distillation: sentence selection, the leakage guard, resumable teacher
logits and stage-1 batches mixed from the corpus."""
import gzip
import json

import numpy as np
import pytest
import torch

from edgebert.core.config import load_model_config
from edgebert.core.tasks import get_task, read_examples
from edgebert.core.tokenization import Tokenizer
from edgebert.train import corpus, stages, teacher
from edgebert.train.corpus import CorpusSet, LeakGuard, split_sentences
from edgebert.train.model import EdgeBert
from edgebert.train.pipeline import STEPS, Run

DEV = "it 's a charming and often affecting journey ."   # SST-2 dev, PTB-tokenised


def _reviews(n: int = 40) -> list[str]:
    rows = [f"Review {i} starts here.<br /><br />The film number {i} was quite good to watch! "
            f"Was part {i} of it boring? Not at all, said nobody ever." for i in range(n)]
    rows[3] += " Critics agree: It's a charming and often affecting journey. I agree."
    rows[4] += " Short one."
    return rows


def _data(tmp_path, reviews: list[str]):
    (tmp_path / "reviews").mkdir()
    with gzip.open(tmp_path / "reviews" / "imdb_reviews.txt.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(reviews) + "\n")
    glue = tmp_path / "glue" / "SST-2"
    glue.mkdir(parents=True)
    rows = [f"sentence number {i} is {'good' if i % 2 else 'bad'}\t{i % 2}" for i in range(30)]
    (glue / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    return tmp_path


def _fake_logits(calls: list):
    """Teacher logits as a deterministic function of the token ids; records each call's size."""
    def logits(model, encoded, **kwargs):
        calls.append(len(encoded))
        return np.array([[sum(e.ids) % 97 / 10.0, len(e) / 10.0] for e in encoded], np.float32)
    return logits


def test_split_strips_markup_and_lower_cases():
    text = 'Great film!<br /><br />I said "Wow." Then we left... Did you? <i>Yes</i> (really.) OK'
    assert split_sentences(text) == ["great film!", 'i said "wow."', "then we left...",
                                     "did you?", "yes (really.)", "ok"]


def test_leakage_guard_matches_across_tokenisation_and_inside_sentences():
    guard = LeakGuard([DEV, "bad ."])       # "bad ." has 2 tokens: not guarded
    assert guard("critics agree: it's a charming and often affecting journey. i agree")
    assert guard("it's a charming and often affecting journey.")
    assert not guard("it's a charming film, and often an affecting journey.")
    assert not guard("a bad . movie")
    assert not LeakGuard([])("anything at all")


def test_select_counts_filters_and_is_seeded(tmp_path):
    data = _data(tmp_path, _reviews())
    path = corpus.reviews_path(data / "glue")     # the GLUE folder given: reviews beside it
    a, counts = corpus.select(path, [DEV], 20, seed=0)
    b, _ = corpus.select(path, [DEV], 20, seed=0)
    c, _ = corpus.select(path, [DEV], 20, seed=1)
    assert a == b and a != c and len(set(a)) == 20
    assert counts["reviews"] == 40
    assert counts["leakage_removed"] == 1
    assert not any("charming" in s for s in a)
    assert counts["after_filters"] == counts["after_dedup"] - 1
    assert "short one." not in a and all(s == s.lower() and "<br" not in s for s in a)
    with pytest.raises(ValueError, match="only"):
        corpus.select(path, [DEV], 10 ** 6, seed=0)


def test_general_texts_add_guarded_review_sentences_to_the_glue_ones(tmp_path):
    data = _data(tmp_path, _reviews())
    task = get_task("sst2")
    train = read_examples(task, "train", data / "glue")
    glue_only, counts = corpus.general_texts({"corpora": ["SST-2"], "min_words": 4}, task.folder, train,
                                             data / "glue", [DEV], seed=0)
    assert counts == {"glue_sentences": 30} and len(glue_only) == 30
    both, counts = corpus.general_texts({"corpora": ["SST-2"], "reviews": 25, "min_words": 4}, task.folder,
                                        train, data / "glue", [DEV], seed=0)
    assert both[:30] == glue_only and len(both) == 55
    assert counts["reviews"]["sampled"] == 25 and counts["reviews"]["leakage_removed"] == 1
    assert not any("charming" in t for t in both)
    reviews_only, _ = corpus.general_texts({"reviews": 25, "min_words": 4}, task.folder, train,
                                           data / "glue", [DEV], seed=0)
    assert reviews_only == both[30:]


def test_cached_logits_resume_after_a_kill(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(teacher, "logits", _fake_logits(calls))
    tok = Tokenizer(64)
    enc = [tok.encode(f"sentence {i} " + "word " * (i % 7)) for i in range(25)]
    folder = tmp_path / "c"
    folder.mkdir()
    expected = np.array([[sum(e.ids) % 97 / 10.0, len(e) / 10.0] for e in enc], np.float32)

    real_savez, saved = np.savez, []

    def killed_after_two(path, **arrays):
        if len(saved) == 2:
            raise KeyboardInterrupt
        real_savez(path, **arrays)
        saved.append(path)
    monkeypatch.setattr(np, "savez", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        corpus.cached_logits(None, enc, folder, chunk=8)
    monkeypatch.setattr(np, "savez", real_savez)
    assert sorted(p.name for p in folder.iterdir()) == ["chunk-0000.npz", "chunk-0001.npz"]
    calls.clear()
    report = corpus.cached_logits(None, enc, folder, chunk=8)
    assert calls == [8, 1]                    # chunks 2 and 3 only
    assert report["chunks"] == 4 and report["chunks_computed"] == 2
    assert report["sentences_computed"] == 9
    np.testing.assert_array_equal(corpus.load_logits(folder, 25), expected)
    ids = np.concatenate([np.load(corpus.chunk_path(folder, c))["ids"] for c in range(4)])
    assert sorted(ids.tolist()) == list(range(25))
    (folder / "chunk-0003.npz").unlink()
    with pytest.raises(ValueError, match="rerun"):
        corpus.load_logits(folder, 25)


def _run(tmp_path, spec: dict | None) -> Run:
    data = _data(tmp_path, _reviews())
    out = tmp_path / "run"
    out.mkdir()
    cfg = {"task": "sst2", "model": "tiny", "seed": 0, "validation_size": 5,
           "embedding": {"path": "models/tiny/embedding.npz"}, "augment": {"samples": 3},
           "stages": {}}
    if spec is not None:
        cfg["distill"] = {"corpus": spec}
    return Run(cfg, out, data / "glue")


def test_step_is_skipped_without_config(tmp_path):
    assert "skipped" in _run(tmp_path, None).step_corpus_data()
    assert STEPS.index("sentence_data") < STEPS.index("corpus_data") < STEPS.index("stage1")


def test_step_selects_once_and_reports(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(teacher, "logits", _fake_logits(calls))
    monkeypatch.setattr(teacher, "load_finetuned", lambda path, on=None: None)
    run = _run(tmp_path, {"n": 30, "mix": 0.5, "chunk": 7})
    report = run.step_corpus_data()
    assert report["sampled"] == 30 and report["reviews"] == 40
    assert report["leakage_removed"] == 1 and report["chunks"] == 5
    assert report["sentences_computed"] == 30 and sum(calls) == 30
    assert report["sentences_per_s"] > 0
    json.dumps(report)
    calls.clear()
    again = run.step_corpus_data()          # all chunks cached: no teacher call
    assert calls == [] and again["sampled"] == 30 and again["sentences_computed"] == 0
    run.cfg["distill"]["corpus"]["n"] = 20
    with pytest.raises(ValueError, match="delete the folder"):
        run.step_corpus_data()
    mixed = corpus.load(run.path("corpus_logits"), run.tok, 0.5)
    assert len(mixed.encoded) == len(mixed.logits) == 30


_LAYERS_LOSS, _COLLATE = stages.layers_loss, stages.collate


def _stage1(monkeypatch, corpus_set, steps=8):
    """Runs a few stage-1 steps; returns the report and, per step, (source, batch rows, loss)."""
    torch.manual_seed(0)
    cfg = load_model_config("tiny", num_labels=2)
    model = EdgeBert(cfg)
    tok = Tokenizer(cfg.max_len)
    enc = [tok.encode(f"task sentence {i} " + "good " * (i % 5)) for i in range(40)]
    z = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    y = np.arange(40) % 2
    hp = {"seed": 0, "epochs": 1, "steps": steps, "batch_size": 4, "lr": 1e-3, "temperature": 2.0,
          "alpha_ce": 0.1, "span_l1": 0.0, "encoder_sparsity": 0.0, "prune_start": 0.0,
          "prune_end": 0.0}
    steps_seen, rows = [], []
    real_loss, real_collate = _LAYERS_LOSS, _COLLATE

    def collate(encoded, index):
        rows.append(list(index))
        return real_collate(encoded, index)

    def layers_loss(logits, t, labels, *args):
        loss = real_loss(logits, t, labels, *args)
        steps_seen.append(("corpus" if labels is None else "task", rows[-1], loss.item()))
        return loss
    monkeypatch.setattr(stages, "collate", collate)
    monkeypatch.setattr(stages, "layers_loss", layers_loss)
    result = stages.stage1(model, enc, z, y, hp, None, corpus=corpus_set)
    return result, steps_seen


def _corpus(mix: float) -> CorpusSet:
    tok = Tokenizer(64)
    return CorpusSet([tok.encode(f"a review sentence {i}") for i in range(12)],
                     np.ones((12, 2), np.float32), mix)


def test_stage1_draws_the_mix_from_the_corpus(monkeypatch):
    plain, plain_steps = _stage1(monkeypatch, None)
    result, seen = _stage1(monkeypatch, _corpus(0.5))
    assert [s[0] for s in seen] == ["task", "corpus"] * 4 and result["corpus_batches"] == 4
    # the task batches are the plain run's, in its order: the corpus has a stream of its own
    assert [s[1] for s in seen if s[0] == "task"] == [s[1] for s in plain_steps[:4]]
    _, seen = _stage1(monkeypatch, _corpus(0.25))
    assert [s[0] for s in seen].count("corpus") == 2 and seen[3][0] == seen[7][0] == "corpus"


def test_stage1_without_corpus_is_unchanged(monkeypatch):
    plain, seen = _stage1(monkeypatch, None)
    assert [s[0] for s in seen] == ["task"] * 8 and "corpus_batches" not in plain
    _, none_drawn = _stage1(monkeypatch, _corpus(0.0))
    assert none_drawn == seen             # same batches, bit-identical losses


def test_experiment_config_is_consistent():
    from edgebert.core.paths import REPO_ROOT
    cfg = json.loads((REPO_ROOT / "configs/train/experiments/sst2_tiny_reviews.json").read_text())
    assert cfg["package_dir"].startswith("runs/")
    start = REPO_ROOT / cfg["stages"]["stage1"]["init_from"]      # the shipped student
    from safetensors.torch import load_file
    EdgeBert(load_model_config(cfg["model"], num_labels=2)).load_state_dict(load_file(str(start)),
                                                                            strict=True)
    spec = cfg["distill"]["corpus"]
    assert spec["n"] == 120000 and spec["mix"] == 0.5
    assert cfg["stages"]["stage1"]["steps"] == 8000
    assert read_examples(get_task(cfg["task"]), "dev")
