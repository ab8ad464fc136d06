"""GLUE task data: the task registry and readers for the TSV files.

The dev sets used by `eval` and the demo ship in the repository (`data/glue`); training sets
are read from a data folder the user gives (`--data` or `$EDGEBERT_DATA`, `edgebert.core.paths`).
"""
from __future__ import annotations

import csv
import random
import warnings
from dataclasses import dataclass
from pathlib import Path

from edgebert.core.errors import InputError, MissingFileError
from edgebert.core.paths import SHIPPED_GLUE, training_glue_dir
from edgebert.core.tokenization import Encoded, Tokenizer, TruncationWarning


@dataclass(frozen=True)
class Task:
    name: str
    folder: str
    num_labels: int
    pair: bool
    metrics: tuple[str, ...]


TASKS = {
    "sst2": Task("sst2", "SST-2", 2, pair=False, metrics=("accuracy",)),
    "mrpc": Task("mrpc", "MRPC", 2, pair=True, metrics=("accuracy", "f1")),
}


@dataclass(frozen=True)
class Example:
    text_a: str
    text_b: str | None
    label: int


def get_task(name: str) -> Task:
    try:
        return TASKS[name.lower()]
    except KeyError:
        raise InputError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None


def _rows(path: Path, encoding: str) -> list[list[str]]:
    if not path.is_file():
        raise MissingFileError(f"data file not found: {path}")
    with open(path, encoding=encoding, newline="") as f:
        # GLUE text contains quote characters that are part of the sentence: no quoting.
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[1:]


def read_examples(task: Task, split: str, data_dir: Path | None = None) -> list[Example]:
    """Read `split` ('train' or 'dev') of a task. Dev defaults to the shipped copy; train comes
    from the training data folder (`edgebert.core.paths.training_glue_dir`)."""
    if split == "dev" and data_dir is None:
        glue_dir = SHIPPED_GLUE
    else:
        glue_dir = training_glue_dir(data_dir)
    path = glue_dir / task.folder / f"{split}.tsv"
    if task.name == "sst2":
        rows = _rows(path, "utf-8")
        _check_columns(rows, 2, path)
        return [Example(r[0].strip(), None, int(r[1])) for r in rows]
    if task.name == "mrpc":
        rows = _rows(path, "utf-8-sig")   # GLUE's MRPC files start with a byte-order mark
        _check_columns(rows, 5, path)
        return [Example(r[3].strip(), r[4].strip(), int(r[0])) for r in rows]
    raise ValueError(f"no reader for task {task.name}")


# Per GLUE training file: its column count and the columns holding sentences, for label-free
# use (general distillation).
SENTENCE_COLUMNS = {"SST-2": (2, (0,)), "MRPC": (5, (3, 4)), "RTE": (4, (1, 2))}


def read_sentences(folder: str, data_dir: Path | None = None) -> list[str]:
    """Every sentence of a GLUE task's training file, labels ignored."""
    if folder not in SENTENCE_COLUMNS:
        raise ValueError(f"no sentence reader for {folder!r}; known: {', '.join(SENTENCE_COLUMNS)}")
    path = training_glue_dir(data_dir) / folder / "train.tsv"
    rows = _rows(path, "utf-8-sig")
    n_columns, cols = SENTENCE_COLUMNS[folder]
    _check_columns(rows, n_columns, path)
    return [r[c].strip() for r in rows for c in cols]


def _check_columns(rows: list[list[str]], n: int, path: Path) -> None:
    for i, r in enumerate(rows):
        if len(r) != n:
            raise InputError(f"{path}: row {i + 2} has {len(r)} columns, expected {n}")


def encode_examples(examples: list[Example], tokenizer: Tokenizer) -> list[Encoded]:
    """Encode a data set; one warning says how many sentences were truncated, if any."""
    encoded = [tokenizer.encode(e.text_a, e.text_b, warn=False) for e in examples]
    cut = sum(e.truncated_from is not None for e in encoded)
    if cut:
        warnings.warn(f"{cut} of {len(encoded)} sentences are longer than {tokenizer.max_len} "
                      f"tokens and were truncated", TruncationWarning, stacklevel=2)
    return encoded


def split_train(examples: list[Example], n_val: int, seed: int,
                by: str = "example") -> tuple[list[Example], list[Example]]:
    """A fixed held-out validation split carved out of the training set (GLUE dev is the test):
    random examples (`by="example"`) or whole sentences (`by="sentence"`)."""
    if by == "sentence":
        return split_train_by_sentence(examples, n_val, seed)
    if by != "example":
        raise ValueError(f"unknown validation split {by!r}; use 'example' or 'sentence'")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [examples[i] for i in train], [examples[i] for i in val]


def split_train_by_sentence(examples: list[Example], n_val: int, seed: int,
                            min_words: int = 10) -> tuple[list[Example], list[Example]]:
    """Held-out whole sentences for a treebank-style training set (SST-2 holds every phrase of
    each parse tree, so a random split shares text with training). A held-out sentence is one
    that no other example contains; every training example that occurs inside a held-out
    sentence leaves the training split too, so no validation text is seen in training."""
    if any(e.text_b is not None for e in examples):
        raise ValueError("a split by sentence is for single-sentence tasks; pairs are independent")
    texts = [f" {e.text_a} " for e in examples]   # padded: matches end at word boundaries
    long_ids = [i for i, t in enumerate(texts) if len(t.split()) >= min_words]
    corpus = "\n".join(texts[i] for i in long_ids)   # only a long example can hold a long one
    order = long_ids[:]
    random.Random(seed).shuffle(order)
    val = []
    for i in order:
        if corpus.count(texts[i]) == 1:   # contained in no example but itself
            val.append(i)
            if len(val) == n_val:
                break
    if len(val) < n_val:
        raise ValueError(f"only {len(val)} whole sentences of >= {min_words} words to hold out; "
                         f"{n_val} asked for")
    inside = set()
    for i in val:
        words = texts[i].split()
        inside.update(" ".join(words[a:b]) for a in range(len(words))
                      for b in range(a + 1, len(words) + 1))
    held = set(val)
    train = [e for i, e in enumerate(examples) if i not in held and e.text_a not in inside]
    return train, [examples[i] for i in sorted(val)]
