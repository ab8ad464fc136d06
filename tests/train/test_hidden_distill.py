"""Intermediate-layer distillation: layer mapping and a loss that trains."""
import torch
from transformers import BertConfig, BertForSequenceClassification

from edgebert.core.config import load_model_config
from edgebert.core.tokenization import Encoded
from edgebert.train.batches import collate
from edgebert.train.model import EdgeBert
from edgebert.train.stages import HiddenDistiller, general


def small_teacher(layers: int):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=500, hidden_size=48, num_hidden_layers=layers, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=32, num_labels=2)
    return BertForSequenceClassification(cfg).eval()


def test_student_uses_map_evenly_onto_teacher_layers():
    d = HiddenDistiller(small_teacher(6), student_hidden=32, student_layers=12)
    assert d.pairs == [(1, 1), (3, 2), (5, 3), (7, 4), (9, 5), (11, 6)]
    assert HiddenDistiller(small_teacher(2), 32, 4).pairs == [(1, 1), (3, 2)]
    assert not any(p.requires_grad for p in d.teacher.parameters())


def test_hidden_loss_falls_when_the_student_learns_and_ignores_padding():
    cfg = load_model_config("tiny", vocab_size=500, hidden=32, heads=2, ffn=64, layers=4,
                            embed_dim=16, max_len=16, span_ramp=4)
    torch.manual_seed(0)
    student = EdgeBert(cfg, torch.randn(500, 16) * 0.3, dropout=0.0)
    d = HiddenDistiller(small_teacher(2), cfg.hidden, cfg.layers)
    enc = [Encoded([101, 7 + i, 9, 102][: 3 + i % 2], [0] * (3 + i % 2)) for i in range(8)]
    b = collate(enc, list(range(8)))
    opt = torch.optim.Adam(list(student.parameters()) + list(d.proj.parameters()), lr=3e-3)
    losses = []
    for _ in range(60):
        _, hidden = student(b.ids, b.token_types, b.pad_mask, return_hidden=True)
        loss = d.loss(b, hidden)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    # Padding positions do not count: changing the student's state there changes nothing.
    _, hidden = student(b.ids, b.token_types, b.pad_mask, return_hidden=True)
    noisy = [h.clone() for h in hidden]
    for h in noisy:
        h[~b.pad_mask] += 100.0
    assert torch.allclose(d.loss(b, hidden), d.loss(b, noisy))


def test_general_distillation_lowers_the_hidden_loss_and_leaves_the_ramps():
    cfg = load_model_config("tiny", vocab_size=500, hidden=32, heads=2, ffn=64, layers=4,
                            embed_dim=16, max_len=16, span_ramp=4)
    torch.manual_seed(0)
    student = EdgeBert(cfg, torch.randn(500, 16) * 0.3, dropout=0.0)
    ramps_before = [p.detach().clone() for p in student.ramps.parameters()]
    enc = [Encoded([101, 7 + i % 50, 9 + i % 7, 102], [0] * 4) for i in range(64)]
    hp = {"seed": 0, "epochs": 30, "batch_size": 16, "lr": 3e-3, "warmup": 0.05}
    result = general(student, enc, hp, small_teacher(2))
    assert result["steps"] == 120
    assert result["loss_last_tenth"] < 0.5 * result["loss_first_tenth"]
    assert all(torch.equal(a, b) for a, b in zip(ramps_before, student.ramps.parameters()))
