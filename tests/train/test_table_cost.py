"""The table-cost probe: a table's reconstruction loses more the narrower and sparser it is, the
full-width dense one is the table itself up to fp16, and the teacher leaves the probe unchanged."""
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from edgebert.train import teacher
from edgebert.train.table_cost import reconstruction, table_cost


def test_reconstruction_error_falls_with_width_and_rises_with_sparsity():
    torch.manual_seed(0)
    word = torch.randn(400, 24) @ torch.diag(torch.linspace(2.0, 0.1, 24)) + 0.5
    err = {(w, s): float((reconstruction(word, w, s) - word).pow(2).mean()) for w in (6, 12, 24) for s in (0.0, 0.6)}
    assert err[(6, 0.0)] > err[(12, 0.0)] > err[(24, 0.0)]
    assert all(err[(w, 0.6)] > err[(w, 0.0)] for w in (6, 12, 24))
    torch.testing.assert_close(reconstruction(word, 24, 0.0), word, atol=5e-3, rtol=0)   # fp16 rounding only


@pytest.fixture
def teacher_dir(tmp_path):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=48, max_position_embeddings=128, num_labels=2)
    BertForSequenceClassification(cfg).save_pretrained(str(tmp_path / "teacher"))
    return tmp_path / "teacher"


def test_the_teacher_is_scored_per_table_and_restored(teacher_dir):
    out = table_cost(teacher_dir, "sst2", [8, 32], [0.0])
    assert out["n"] == 872 and out["teacher_width"] == 32
    assert [(r["width"], r["sparsity"]) for r in out["tables"]] == [(8, 0.0), (32, 0.0)]
    assert out["tables"][1]["accuracy"] == pytest.approx(out["teacher_as_is"]["accuracy"], abs=0.01)
    again = table_cost(teacher_dir, "sst2", [32], [0.0])        # the first call put the table back
    assert again["teacher_as_is"] == out["teacher_as_is"]
    mrpc = table_cost(teacher_dir, "mrpc", [8], [0.6])
    assert "f1" in mrpc["teacher_as_is"] and "f1" in mrpc["tables"][0]


def test_refusals(teacher_dir, tmp_path):
    with pytest.raises(ValueError, match=r"table widths \[64\]: each must be in 1..32"):
        table_cost(teacher_dir, "sst2", [64], [0.0])
    (tmp_path / "ens").mkdir()
    (tmp_path / "ens" / teacher.ENSEMBLE_FILE).write_text('{"members": ["../teacher"]}')
    with pytest.raises(ValueError, match="ensemble"):
        table_cost(tmp_path / "ens", "sst2", [8], [0.0])
