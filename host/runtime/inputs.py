"""A run's inputs: every line of the input becomes one item, and every item one log record.

Reading splits the input into items; tokenizing is a stage of its own (`tokenize`), so that a
pipelined run tokenizes the next sentences while the accelerator works. An item that waits for
the tokenizer carries its `pair` setting; `defer=False` tokenizes at once.
"""
from __future__ import annotations

import hashlib
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from edgebert.accel.builds import get_build
from edgebert.core.errors import InputError
from edgebert.core.tasks import get_task, read_examples
from edgebert.core.tokenization import EmptyInputError, Encoded, Tokenizer, TruncationWarning


@dataclass
class Item:
    id: str
    text: str
    encoded: Encoded | None
    label: int | None
    error: str | None = None
    skipped: str | None = None           # an input line with no sentence on it, and why
    pair: bool | None = None             # set while the item waits for the tokenizer

    @property
    def pending(self) -> bool:
        return self.pair is not None


def skipped_line(line: bytes) -> str | None:
    """Why an input line holds no sentence (it still gets a log record), or None."""
    if not line:
        return "empty line"
    if not line.strip():
        return "blank line (white space only)"
    return None


def is_sentence(rec: dict) -> bool:
    """A log record of a sentence that ran (not an input error, not a skipped line)."""
    return "error" not in rec and "skipped" not in rec


def item_record(item: Item) -> dict | None:
    """The log record of an item that does not run, or None for one that does."""
    if item.error:
        return {"id": item.id, "text_chars": len(item.text), "error": item.error}
    if item.skipped:
        return {"id": item.id, "text_chars": len(item.text), "skipped": item.skipped}
    return None


# ---- inputs -------------------------------------------------------------------------------------
def task_items(task: str, tokenizer: Tokenizer, limit: int | None = None, defer: bool = False) -> list[Item]:
    """A task's labelled dev set (shipped with the project)."""
    t = get_task(task)
    examples = read_examples(t, "dev")[:limit]
    items = []
    for i, e in enumerate(examples):
        text = e.text_a if e.text_b is None else f"{e.text_a}\t{e.text_b}"
        items.append(_item(f"{t.name}-dev-{i}", text, tokenizer, t.pair, e.label, defer))
    return items


def text_items(raw: bytes, tokenizer: Tokenizer, pair: bool, prefix: str = "line",
               defer: bool = False) -> list[Item]:
    """One sentence per line (a tab separates the two sentences of a pair task). Every line gets
    a record: an empty or blank line one with `skipped` and the reason; a line that is not UTF-8
    or has no tokens one with an `error`."""
    items = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if skipped_line(line):
            items.append(Item(f"{prefix}-{n}", line.decode("utf-8", "replace"), None, None, skipped=skipped_line(line)))
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            items.append(Item(f"{prefix}-{n}", "", None, None, f"line {n} is not UTF-8 ({e.reason} at byte {e.start})"))
            continue
        items.append(_item(f"{prefix}-{n}", text.rstrip("\r"), tokenizer, pair, None, defer))
    return items


def token_items(raw: bytes, vocab_size: int, max_len: int) -> list[Item]:
    """Pre-tokenized input (`edgebert tokenize`): one JSON object a line with `id`, `ids`,
    `token_types` and optionally `label`; a bad line becomes a record with an `error`, an empty
    or blank one a record with `skipped`."""
    items = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if skipped_line(line):
            items.append(Item(f"line-{n}", "", None, None, skipped=skipped_line(line)))
            continue
        try:
            obj = json.loads(line)
            ids, types = [int(v) for v in obj["ids"]], [int(v) for v in obj["token_types"]]
            item_id = str(obj.get("id", f"line-{n}"))
        except (ValueError, KeyError, TypeError) as e:
            items.append(Item(f"line-{n}", "", None, None, f"line {n} is not a token record ({e})"))
            continue
        problem = None
        if not ids or len(ids) != len(types):
            problem = "ids and token_types must be non-empty and of one length"
        elif len(ids) > max_len:
            problem = f"{len(ids)} tokens exceed the accelerator's {max_len}"
        elif min(ids) < 0 or max(ids) >= vocab_size or min(types) < 0 or max(types) > 1:
            problem = "a token id or type is outside the vocabulary"
        items.append(Item(item_id, "", None if problem else Encoded(ids, types), obj.get("label"), problem))
    return items


def max_tokens(hw, board: str | None = None) -> int:
    """The longest sentence a run holds: the artifact's limit, or a board build's if shorter."""
    if not board or board == "sim":
        return hw.cfg.max_len
    return min(hw.cfg.max_len, get_build(board).limit("EB_MAX_LEN"))


def read_input(path: str) -> bytes:
    """The bytes of an input file; '-' reads standard input."""
    if path == "-":
        return sys.stdin.buffer.read()
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no such file: {path}")
    return p.read_bytes()


def input_items(task, max_len: int, input_path: str | None = None, tokens_path: str | None = None,
                vocab_size: int | None = None, limit: int | None = None,
                defer: bool = False) -> tuple[list[Item], str]:
    """A run's sentences, from pre-tokenized records, raw text or the task's dev set, and the
    name of that input for the log header (a checksum of the file's bytes). `defer` leaves the
    tokenizing to the run's `tokenize` stage."""
    if tokens_path:
        raw = read_input(tokens_path)
        return token_items(raw, vocab_size, max_len)[:limit], f"tokens:{hashlib.sha256(raw).hexdigest()[:16]}"
    tok = Tokenizer(max_len)
    if input_path:
        raw = read_input(input_path)
        return text_items(raw, tok, task.pair, defer=defer)[:limit], f"sha256:{hashlib.sha256(raw).hexdigest()[:16]}"
    return task_items(task.name, tok, limit, defer), "dev"


def _item(item_id: str, text: str, tokenizer: Tokenizer, pair: bool, label, defer: bool) -> Item:
    return Item(item_id, text, None, label, pair=pair) if defer else _encode(item_id, text, tokenizer, pair, label)


def tokenize(item: Item, tokenizer: Tokenizer) -> Item:
    """The tokenize stage: an item waiting for the tokenizer comes back encoded (or with the
    error that stops it); any other item comes back as it is."""
    if not item.pending:
        return item
    return _encode(item.id, item.text, tokenizer, item.pair, item.label)


def _encode(item_id: str, text: str, tokenizer: Tokenizer, pair: bool, label) -> Item:
    parts = text.split("\t") if pair else [text]
    if pair and len(parts) != 2:
        return Item(item_id, text, None, label, "a pair task needs two sentences separated by a tab")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            enc = tokenizer.encode(parts[0], parts[1] if pair else None)
    except EmptyInputError as e:
        return Item(item_id, text, None, label, str(e))
    return Item(item_id, text, enc, label)
