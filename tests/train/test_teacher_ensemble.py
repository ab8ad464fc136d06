"""Teacher ensembles: members from the config, an interrupted sweep resumes, and the ensemble
answers with the mean of its members' logits."""
import json

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from edgebert.core.tokenization import Encoded
from edgebert.train import teacher
from edgebert.train.stages import HiddenDistiller


def small_teacher(num_labels: int = 2):
    cfg = BertConfig(vocab_size=200, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=48, max_position_embeddings=16, num_labels=num_labels)
    return BertForSequenceClassification(cfg)


def sentences(n: int) -> list[Encoded]:
    return [Encoded([101, 5 + i % 90, 7 + i % 13, 102], [0] * 4) for i in range(n)]


def test_members_default_to_one_teacher_and_override_the_base():
    hp = {"epochs": 3, "lr": 5e-5, "batch_size": 32}
    assert teacher.members(hp, seed=4) == [{"epochs": 3, "lr": 5e-5, "batch_size": 32, "seed": 4}]
    runs = teacher.members({**hp, "members": [{}, {"seed": 1}, {"lr": 1e-4, "epochs": 5}]}, seed=0)
    assert [(m["seed"], m["lr"], m["epochs"]) for m in runs] == [(0, 5e-5, 3), (1, 5e-5, 3), (0, 1e-4, 5)]
    with pytest.raises(ValueError, match="unknown setting.*dropout"):
        teacher.members({**hp, "members": [{"dropout": 0.2}]}, seed=0)


def test_ensemble_logits_are_the_mean_of_its_members(tmp_path):
    models = []
    for k in range(3):
        torch.manual_seed(k)
        m = small_teacher()
        m.save_pretrained(str(tmp_path / f"member-{k}"))
        models.append(m.eval())
    (tmp_path / teacher.ENSEMBLE_FILE).write_text(json.dumps({"members": [f"member-{k}" for k in range(3)]}))
    enc = sentences(10)
    ensemble = teacher.load_finetuned(tmp_path)
    assert isinstance(ensemble, teacher.Ensemble) and len(ensemble.models) == 3
    each = [teacher.logits(m, enc, progress=False) for m in models]
    np.testing.assert_allclose(teacher.logits(ensemble, enc, progress=False), np.mean(each, 0), atol=1e-6)
    assert not np.allclose(each[0], each[1])      # the members differ, so the mean means something
    with pytest.raises(ValueError, match="single teacher"):
        ensemble(input_ids=torch.tensor([[101, 102]]), output_hidden_states=True)
    with pytest.raises(ValueError, match="single teacher"):
        HiddenDistiller(ensemble, student_hidden=16, student_layers=4)


def test_a_sweep_trains_each_member_once_and_scores_the_ensemble(tmp_path, monkeypatch):
    monkeypatch.setattr(teacher, "load_pretrained_teacher", lambda num_labels: small_teacher(num_labels))
    enc, labels = sentences(16), [i % 2 for i in range(16)]
    hp = {"epochs": 1, "lr": 1e-3, "batch_size": 8, "members": [{}, {"seed": 1}]}
    scored = []

    def score(model):
        scored.append(model)
        return {"dev_accuracy": float((teacher.logits(model, enc, progress=False).argmax(1) == labels).mean())}

    report = teacher.finetune_all(hp, 0, enc, labels, 2, tmp_path / "teacher", score)
    assert [m["seed"] for m in report["members"]] == [0, 1]
    assert all("dev_accuracy" in m for m in report["members"]) and "ensemble_dev_accuracy" in report
    assert isinstance(scored[-1], teacher.Ensemble)
    # Resumed: the saved members are kept, not trained again.
    weights = tmp_path / "teacher" / "member-0" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    monkeypatch.setattr(teacher, "finetune", lambda *a, **k: pytest.fail("a finished member was retrained"))
    again = teacher.finetune_all(hp, 0, enc, labels, 2, tmp_path / "teacher", score)
    assert again["members"] == report["members"] and weights.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match=r"member-1 was fine-tuned with other settings.*delete it"):
        teacher.finetune_all({**hp, "members": [{}, {"seed": 2}]}, 0, enc, labels, 2, tmp_path / "teacher", score)


def test_one_teacher_is_saved_where_it_always_was(tmp_path, monkeypatch):
    monkeypatch.setattr(teacher, "load_pretrained_teacher", lambda num_labels: small_teacher(num_labels))
    enc, labels = sentences(8), [i % 2 for i in range(8)]
    report = teacher.finetune_all({"epochs": 1, "lr": 1e-3, "batch_size": 8}, 3, enc, labels, 2,
                                  tmp_path / "teacher", lambda m: {})
    assert report["seed"] == 3 and (tmp_path / "teacher" / "model.safetensors").is_file()
    assert not (tmp_path / "teacher" / teacher.ENSEMBLE_FILE).exists()
    assert not isinstance(teacher.load_finetuned(tmp_path / "teacher"), teacher.Ensemble)
