"""The word table's two sources: the svd of the teacher's input embeddings and its static
(model2vec-style) output vectors."""
import pytest
import torch
from transformers import BertConfig, BertModel

from edgebert.core.tokenization import CLS_ID, SEP_ID
from edgebert.train.embedding import build_table, low_rank_basis, make_table, static_vectors

VOCAB = 260


def small_encoder():
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=48, max_position_embeddings=16)
    return BertModel(cfg).eval()


def test_static_vectors_are_each_tokens_own_output_averaged():
    enc = small_encoder()
    vec = static_vectors(enc, VOCAB, batch_size=100)      # several batches, the last one short
    assert vec.shape == (VOCAB, 32)
    for token in (0, 150, VOCAB - 1):
        x = torch.tensor([[SEP_ID, token, CLS_ID]])
        with torch.no_grad():
            alone = enc(input_ids=x).last_hidden_state.mean(1)[0]
        torch.testing.assert_close(vec[token], alone, atol=1e-5, rtol=1e-5)


def test_static_table_is_pruned_and_scaled_like_the_svd_table():
    enc = small_encoder()
    words = enc.embeddings.word_embeddings.weight.detach()
    svd = make_table("svd", words, rank=8, sparsity=0.6)
    static = make_table("static", words, rank=8, sparsity=0.6, encoder=enc)
    assert svd.shape == static.shape == (VOCAB, 8)
    assert (svd == 0).float().mean() == pytest.approx(0.6, abs=1e-3)
    assert (static == 0).float().mean() == pytest.approx(0.6, abs=1e-3)
    torch.testing.assert_close(svd, build_table(words, 8, 0.6))          # the shipped path, unchanged
    mean, basis = low_rank_basis(words, 8)
    target = ((words - mean) @ basis).pow(2).mean().sqrt()
    unpruned = make_table("static", words, rank=8, sparsity=0.0, encoder=enc)
    assert unpruned.pow(2).mean().sqrt() == pytest.approx(float(target), rel=1e-3)
    assert not torch.allclose(static, svd)


def test_bad_sources_are_named():
    words = torch.randn(VOCAB, 32)
    with pytest.raises(ValueError, match="embedding.source 'glove'"):
        make_table("glove", words, 8, 0.6)
    with pytest.raises(ValueError, match="needs the teacher's pretrained encoder"):
        make_table("static", words, 8, 0.6)
