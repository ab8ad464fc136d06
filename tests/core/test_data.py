import random

import pytest

from edgebert.core.tasks import Example, get_task, read_examples, split_train
from edgebert.core.tokenization import Tokenizer
from edgebert.train.batches import bucketed_batches, collate


def test_shipped_sst2_dev():
    ex = read_examples(get_task("sst2"), "dev")
    assert len(ex) == 872
    assert sum(e.label for e in ex) == 444  # GLUE dev balance: 444 positive, 428 negative
    assert ex[0].text_a == "it 's a charming and often affecting journey ."


def test_shipped_mrpc_dev_handles_bom():
    ex = read_examples(get_task("mrpc"), "dev")
    assert len(ex) == 408 and sum(e.label for e in ex) == 279
    assert all(e.text_b for e in ex)
    assert not ex[0].text_a.startswith("\ufeff")


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task 'qqp'"):
        get_task("qqp")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.tsv"):
        read_examples(get_task("sst2"), "train", tmp_path)


def test_bad_row_named(tmp_path):
    (tmp_path / "SST-2").mkdir()
    (tmp_path / "SST-2" / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\n")
    with pytest.raises(ValueError, match="row 3 has 1 columns"):
        read_examples(get_task("sst2"), "train", tmp_path)


def test_split_is_disjoint_and_fixed():
    ex = read_examples(get_task("sst2"), "dev")
    a, b = split_train(ex, 100, seed=3)
    assert len(a) == 772 and len(b) == 100
    assert split_train(ex, 100, seed=3)[1] == b
    assert not set(map(id, a)) & set(map(id, b))


def _treebank() -> list[Example]:
    """Whole sentences of ten words or more, some of their phrases, and unrelated phrases."""
    sentences = [f"the film number {i} is a truly wonderful piece of work" for i in range(6)]
    phrases = [f"film number {i} is" for i in range(6)] + ["a truly wonderful piece",
                                                          "of work", "a dull plot", "the cast"]
    return [Example(t, None, 1) for t in sentences + phrases]


def test_split_by_sentence_holds_out_whole_sentences_and_their_phrases():
    ex = _treebank()
    train, val = split_train(ex, 2, seed=0, by="sentence")
    assert len(val) == 2 and all(e.text_a.startswith("the film number") for e in val)
    for v in val:   # nothing in train occurs inside a held-out sentence
        assert not any(f" {t.text_a} " in f" {v.text_a} " for t in train)
    kept = {e.text_a for e in train}
    assert {"a dull plot", "the cast"} <= kept            # unrelated phrases stay
    assert "a truly wonderful piece" not in kept           # shared with a held-out sentence
    assert len(kept) == len(ex) - 2 - 2 - 2               # two sentences, their own phrases, two shared
    assert split_train(ex, 2, seed=0, by="sentence") == (train, val)


def test_split_by_sentence_skips_contained_examples_and_reports_shortage():
    ex = _treebank() + [Example("so : the film number 0 is a truly wonderful piece of work", None, 1)]
    _, val = split_train(ex, 6, seed=1, by="sentence")
    assert "the film number 0 is a truly wonderful piece of work" not in {e.text_a for e in val}
    with pytest.raises(ValueError, match="only 6 whole sentences"):
        split_train(ex, 7, seed=1, by="sentence")
    with pytest.raises(ValueError, match="single-sentence"):
        split_train([Example("a b", "c d", 1)], 1, seed=0, by="sentence")
    with pytest.raises(ValueError, match="unknown validation split"):
        split_train(ex, 1, seed=0, by="phrase")


@pytest.mark.parametrize("shuffle", [True, False])
def test_buckets_cover_every_index_once(shuffle):
    tok = Tokenizer(64)
    enc = [tok.encode(e.text_a) for e in read_examples(get_task("sst2"), "dev")[:300]]
    batches = bucketed_batches(enc, 32, shuffle, random.Random(1), bucket_factor=3)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(300))
    b = collate(enc, batches[0])
    assert b.ids.shape[1] == max(len(enc[i]) for i in batches[0])
    assert b.pad_mask.sum().item() == sum(len(enc[i]) for i in batches[0])


def test_encode_examples_counts_truncations():
    from edgebert.core.tasks import Example, encode_examples
    from edgebert.core.tokenization import TruncationWarning
    ex = [Example("good " * 30, None, 1), Example("bad", None, 0), Example("fine " * 40, None, 1)]
    with pytest.warns(TruncationWarning, match="2 of 3 sentences"):
        enc = encode_examples(ex, Tokenizer(16))
    assert [len(e) for e in enc] == [16, 3, 16]


def test_weighted_buckets_draw_by_weight():
    tok = Tokenizer(64)
    enc = [tok.encode(e.text_a) for e in read_examples(get_task("sst2"), "dev")[:200]]
    weights = [0.0] * 100 + [1.0] * 99 + [99.0]     # the first half is never drawn
    flat = [i for b in bucketed_batches(enc, 16, True, random.Random(2), weights=weights) for i in b]
    assert len(flat) == 200
    assert min(flat) >= 100
    assert 70 <= flat.count(199) <= 130              # expected 200 * 99/198 = 100


def test_augmenter_min_words_draws_long_sentences_only():
    from edgebert.train.augment import Augmenter
    ex = read_examples(get_task("sst2"), "dev")
    aug = Augmenter(ex, 0, p_ngram=0.0, p_join=0.0, min_words=25)
    samples = aug.generate(200)
    assert all(len(s.text_a.split()) >= 25 for s in samples)
    assert len(aug.examples) == sum(len(e.text_a.split()) >= 25 for e in ex) < len(ex)
    with pytest.raises(ValueError, match="at least 500 words"):
        Augmenter(ex, 0, min_words=500)


def test_pair_augmenter_flip_and_self_pairs():
    from edgebert.train.augment import Augmenter
    ex = read_examples(get_task("mrpc"), "dev")[:50]
    sides = {(e.text_a, e.text_b) for e in ex}
    flipped = Augmenter(ex, 0, p_mask=0.0, p_replace=0.0, p_swap_pair=0.0, p_flip=1.0).generate(100)
    assert all((s.text_b, s.text_a) in sides for s in flipped)
    own = Augmenter(ex, 0, p_mask=0.0, p_replace=0.0, p_swap_pair=0.0, p_self_pair=1.0).generate(100)
    assert all(s.text_a == s.text_b for s in own)
    assert {s.text_a for s in own} <= {e.text_a for e in ex}
