"""WordPiece tokenization with the BERT uncased vocabulary shipped in the package.

Sentences keep their own length (no padding here); batches pad later. Over-long input is
truncated with a warning that says how much was dropped; empty input is an error.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edgebert.core.errors import InputError

VOCAB_PATH = Path(__file__).parent / "assets" / "vocab.txt"
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = 0, 100, 101, 102, 103


class EmptyInputError(InputError):
    """Raised for a sentence that is empty or holds only whitespace."""


class TruncationWarning(UserWarning):
    """Issued when a sentence is longer than the model's maximum length."""


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    token_types: list[int]
    truncated_from: int | None = None   # original length in tokens when truncated

    def __len__(self) -> int:
        return len(self.ids)


@lru_cache(maxsize=4)
def _wordpiece(vocab_path: str):
    # BERT uncased: lower-case and strip accents; special tokens are added by `encode` below.
    # Imported here: a board that runs pre-tokenized input needs no tokenizers wheel.
    from tokenizers import BertWordPieceTokenizer
    from tokenizers.models import WordPiece
    return BertWordPieceTokenizer(WordPiece.read_file(vocab_path), lowercase=True, strip_accents=True,
                                  clean_text=True, handle_chinese_chars=True)


class Tokenizer:
    """Maps a sentence (or sentence pair) to [CLS] a [SEP] (b [SEP]) ids and token types."""

    def __init__(self, max_len: int, vocab_path: Path = VOCAB_PATH):
        if max_len < 4:
            raise ValueError(f"max_len must be at least 4 tokens, got {max_len}")
        self.max_len = max_len
        self._wp = _wordpiece(str(vocab_path))
        self.vocab_size = self._wp.get_vocab_size()

    def pieces(self, text: str) -> list[int]:
        if text is None or not str(text).strip():
            raise EmptyInputError("empty sentence: there is nothing to classify")
        ids = self._wp.encode(str(text), add_special_tokens=False).ids
        if not ids:
            raise EmptyInputError(f"sentence {text!r} has no WordPiece tokens")
        return ids

    def encode(self, text: str, text_pair: str | None = None, warn: bool = True) -> Encoded:
        a = self.pieces(text)
        b = self.pieces(text_pair) if text_pair is not None else []
        n_special = 3 if text_pair is not None else 2
        full = len(a) + len(b) + n_special
        truncated_from = None
        if full > self.max_len:
            truncated_from = full
            a, b = _truncate_pair(a, b, self.max_len - n_special)
            if warn:
                warnings.warn(f"sentence of {full} tokens truncated to the model's maximum of "
                              f"{self.max_len} tokens ({full - self.max_len} dropped)",
                              TruncationWarning, stacklevel=2)
        ids = [CLS_ID] + a + [SEP_ID]
        types = [0] * len(ids)
        if text_pair is not None:
            ids += b + [SEP_ID]
            types += [1] * (len(b) + 1)
        return Encoded(ids, types, truncated_from)

    def decode(self, ids: list[int]) -> str:
        return self._wp.decode(ids)


def _truncate_pair(a: list[int], b: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Drop tokens from the end of the longer segment first (the BERT convention)."""
    a, b = list(a), list(b)
    while len(a) + len(b) > budget:
        (a if len(a) >= len(b) else b).pop()
    return a, b
