import warnings

import pytest

from edgebert.core.tokenization import CLS_ID, MASK_ID, SEP_ID, UNK_ID, EmptyInputError, Tokenizer, TruncationWarning


@pytest.fixture(scope="module")
def tok():
    return Tokenizer(max_len=16)


def test_known_ids(tok):
    # Ids of the BERT uncased vocabulary: "hello" 7592, "world" 2088.
    assert tok.encode("Hello world").ids == [CLS_ID, 7592, 2088, SEP_ID]


def test_lowercase_and_accents(tok):
    assert tok.encode("CAFÉ").ids == tok.encode("cafe").ids


def test_wordpiece_split(tok):
    ids = tok.encode("unaffable").ids
    assert len(ids) > 3  # split into sub-word pieces
    assert tok.decode(ids[1:-1]).replace(" ", "") == "unaffable"


def test_mask_literal_is_special(tok):
    assert MASK_ID in tok.encode("a [MASK] film").ids


def test_unknown_symbol(tok):
    assert tok.encode("\u2603").ids == [CLS_ID, UNK_ID, SEP_ID]   # a snowman is not in the vocabulary


@pytest.mark.parametrize("text", ["", "   ", "\t\n", None])
def test_empty_is_an_error(tok, text):
    with pytest.raises(EmptyInputError, match="empty"):
        tok.encode(text)


def test_pair_layout(tok):
    e = tok.encode("a cat", "a dog")
    assert e.ids[0] == CLS_ID and e.ids.count(SEP_ID) == 2 and e.ids[-1] == SEP_ID
    first_sep = e.ids.index(SEP_ID)
    assert e.token_types == [0] * (first_sep + 1) + [1] * (len(e.ids) - first_sep - 1)


def test_empty_second_sentence_is_an_error(tok):
    with pytest.raises(EmptyInputError):
        tok.encode("a cat", " ")


def test_overlong_single_truncated_with_warning(tok):
    text = " ".join(["good"] * 40)
    with pytest.warns(TruncationWarning, match="42 tokens truncated .* 16 tokens"):
        e = tok.encode(text)
    assert len(e) == 16 and e.ids[-1] == SEP_ID and e.truncated_from == 42


def test_overlong_pair_truncates_longer_side_first(tok):
    with pytest.warns(TruncationWarning):
        e = tok.encode(" ".join(["good"] * 20), "bad film")
    assert len(e) == 16
    assert e.ids[-3:] == [2919, 2143, SEP_ID]  # "bad film" kept whole
    assert e.ids.count(2204) == 16 - 3 - 2      # "good" cut to what is left


def test_exact_fit_is_not_truncated(tok):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = tok.encode(" ".join(["good"] * 14))
    assert len(e) == 16 and e.truncated_from is None


def test_max_len_validation():
    with pytest.raises(ValueError):
        Tokenizer(max_len=2)
