"""A shared layer started from a BERT teacher's layers: the averaged values land in the right
places, and with one teacher layer the student's layer computes what that layer computes."""
import pytest
import torch
from transformers import BertConfig, BertModel

from edgebert.core.config import load_model_config
from edgebert.train.model import EdgeBert
from edgebert.train.pretrained import init_from_teacher, teacher_layers

H, HEADS, FFN = 32, 4, 48


def bert(act: str = "gelu") -> BertModel:
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=100, hidden_size=H, num_hidden_layers=3, num_attention_heads=HEADS,
                     intermediate_size=FFN, max_position_embeddings=16, hidden_act=act, layer_norm_eps=1e-5)
    return BertModel(cfg).eval()


def student(**overrides) -> EdgeBert:
    dims = {"vocab_size": 100, "hidden": H, "heads": HEADS, "ffn": FFN, "layers": 4, "embed_dim": 8,
            "max_len": 16, "span_ramp": 4}
    cfg = load_model_config("tiny", **{**dims, **overrides})
    torch.manual_seed(1)
    return EdgeBert(cfg, torch.randn(100, 8), dropout=0.0).eval()


def test_average_and_single_layer_land_where_they_belong():
    state = bert().state_dict()
    layers = teacher_layers(state)
    assert len(layers) == 3
    m = student()
    report = init_from_teacher(m, state, HEADS, "average")
    assert report == {"from": "average", "teacher_layers": 3, "embed_proj_from_basis": False}
    mean_q = torch.stack([l["attention.self.query.weight"] for l in layers]).mean(0)
    torch.testing.assert_close(m.layer.q.weight, mean_q)
    torch.testing.assert_close(m.layer.ln2.bias, torch.stack([l["output.LayerNorm.bias"] for l in layers]).mean(0))
    init_from_teacher(m, state, HEADS, "layer:2")
    torch.testing.assert_close(m.layer.ffn2.weight, layers[2]["output.dense.weight"])
    torch.testing.assert_close(m.layer.o.bias, layers[2]["attention.output.dense.bias"])


def test_one_teacher_layer_computes_as_the_bert_layer():
    teacher = bert(act="gelu_pytorch_tanh")       # the student's GELU form; otherwise identical
    m = student()
    init_from_teacher(m, teacher.state_dict(), HEADS, "layer:1")
    x = torch.randn(2, 7, H)
    with torch.no_grad():
        ours = m.layer(x, torch.ones(2, 7, dtype=torch.bool))
        theirs = teacher.encoder.layer[1](x)
    theirs = theirs[0] if isinstance(theirs, tuple) else theirs
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


def test_projection_from_the_basis_and_refusals():
    m = student()
    basis = torch.linalg.qr(torch.randn(H, 8))[0]          # orthonormal columns, teacher width x E
    init_from_teacher(m, bert().state_dict(), HEADS, "average", basis)
    torch.testing.assert_close(m.embed_proj.weight, basis * 2.0)   # sqrt(H / E) = 2
    assert not m.embed_proj.bias.any()
    with pytest.raises(ValueError, match="'layer:3'.*K < 3"):
        init_from_teacher(m, bert().state_dict(), HEADS, "layer:3")
    with pytest.raises(ValueError, match="teacher's layer shape: H 32, FFN 48, 4 heads; the student has H 32, FFN 48, 2 heads"):
        init_from_teacher(student(heads=2), bert().state_dict(), HEADS, "average")
    with pytest.raises(ValueError, match="no encoder.layer"):
        init_from_teacher(m, {"embeddings.word_embeddings.weight": torch.zeros(3, 3)}, HEADS, "average")
