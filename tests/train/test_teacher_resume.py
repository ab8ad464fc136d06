"""The teacher's fine-tuning, killed part-way and run again, ends with the weights of an
uninterrupted run; a checkpoint of other settings is refused."""
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from edgebert.core.tokenization import Encoded
from edgebert.train import teacher

DATA = [Encoded([101] + [7 + (i * 5 + k) % 90 for k in range(2 + i % 5)] + [102], [0] * (4 + i % 5)) for i in range(40)]
LABELS = [i % 2 for i in range(40)]


def small_bert(num_labels: int):
    cfg = BertConfig(vocab_size=200, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=24, max_position_embeddings=16, num_labels=num_labels)
    return BertForSequenceClassification(cfg)


@pytest.fixture
def bert(monkeypatch):
    monkeypatch.setattr(teacher, "load_pretrained_teacher", small_bert)   # seeded by finetune


def run(out, **kw):
    return teacher.finetune(DATA, LABELS, 2, out, epochs=3, lr=1e-3, batch_size=8, seed=0, **kw)


def kill_at_forward(monkeypatch, k: int):
    real, calls = teacher._forward, []

    def forward(model, batch):
        calls.append(1)
        if len(calls) == k:
            raise KeyboardInterrupt("killed")
        return real(model, batch)
    monkeypatch.setattr(teacher, "_forward", forward)
    return real


def test_killed_and_resumed_equals_uninterrupted(tmp_path, bert, monkeypatch):
    expected = run(tmp_path / "ref")
    ref = BertForSequenceClassification.from_pretrained(str(tmp_path / "ref"))

    real = kill_at_forward(monkeypatch, 9)            # killed in step 9, after step 8 was saved
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "t", checkpoint_minutes=0.0)
    assert (tmp_path / "t" / teacher.FINETUNE_CHECKPOINT).is_file()
    monkeypatch.setattr(teacher, "_forward", real)
    torch.manual_seed(123)                            # a new process: another random state
    result = run(tmp_path / "t", checkpoint_minutes=0.0)
    got = BertForSequenceClassification.from_pretrained(str(tmp_path / "t"))
    for (name, a), b in zip(ref.state_dict().items(), got.state_dict().values()):
        assert torch.equal(a, b), name
    assert result["resumed_after_step"] == 8 and "resumed_after_step" not in expected
    assert result["final_loss"] == expected["final_loss"]
    assert not (tmp_path / "t" / teacher.FINETUNE_CHECKPOINT).exists()


def test_a_checkpoint_of_other_settings_is_refused(tmp_path, bert, monkeypatch):
    kill_at_forward(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "t", checkpoint_minutes=0.0)
    with pytest.raises(ValueError, match="another configuration of 'teacher fine-tune': delete it"):
        teacher.finetune(DATA, LABELS, 2, tmp_path / "t", epochs=3, lr=5e-4, batch_size=8, seed=0)
