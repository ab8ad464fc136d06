import pytest
import torch

from edgebert.core.config import load_model_config
from edgebert.core.tokenization import Tokenizer
from edgebert.train.batches import collate
from edgebert.train.model import EdgeBert


@pytest.mark.parametrize("name,params_m", [("tiny", 0.43), ("edge", 3.62), ("paper", 14.3)])
def test_configs_build_with_expected_size(name, params_m):
    cfg = load_model_config(name)
    model = EdgeBert(cfg)
    n = sum(p.numel() for p in model.parameters())
    assert n / 1e6 == pytest.approx(params_m, rel=0.01)
    # The shared word table is a frozen buffer, not a parameter, and not in the task weights.
    assert "word_embeddings" not in dict(model.named_parameters())
    assert "word_embeddings" not in model.task_state()


def test_paper_config_is_albert_base():
    cfg = load_model_config("paper")
    assert (cfg.hidden, cfg.heads, cfg.ffn, cfg.embed_dim, cfg.max_len, cfg.layers) == (768, 12, 3072, 128, 128, 12)


def test_unknown_config():
    with pytest.raises(ValueError, match="unknown model config 'huge'"):
        load_model_config("huge")


def test_bad_heads():
    with pytest.raises(ValueError, match="divisible"):
        load_model_config("tiny", heads=5)


def test_one_layer_is_shared_by_every_use():
    model = EdgeBert(load_model_config("tiny"))
    names = [n for n, _ in model.named_parameters() if n.startswith("layer.")]
    assert all(not n.startswith("layer.1") for n in names)
    assert len(model.ramps) == 12


def test_padding_does_not_change_outputs():
    torch.manual_seed(0)
    model = EdgeBert(load_model_config("tiny"), dropout=0.0).eval()
    tok = Tokenizer(64)
    enc = [tok.encode("a short one"), tok.encode("a much longer sentence about a film that drags on .")]
    batch = collate(enc, [0, 1])
    with torch.no_grad():
        together = model(batch.ids, batch.token_types, batch.pad_mask)
        for i, e in enumerate(enc):
            ids = torch.tensor([e.ids])
            alone = model(ids, torch.zeros_like(ids), torch.ones_like(ids, dtype=torch.bool))
            assert torch.allclose(together[i], alone[0], atol=1e-5)


def test_overlong_sequence_rejected():
    model = EdgeBert(load_model_config("tiny"))
    ids = torch.ones(1, 129, dtype=torch.long)
    with pytest.raises(ValueError, match="exceeds max_len 128"):
        model(ids, torch.zeros_like(ids), torch.ones_like(ids, dtype=torch.bool))


def test_wrong_embedding_shape():
    with pytest.raises(ValueError, match="word embedding table"):
        EdgeBert(load_model_config("tiny"), torch.zeros(100, 128))
