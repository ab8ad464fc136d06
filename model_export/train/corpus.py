"""In-domain corpus distillation: unlabelled movie-review sentences with the fine-tuned
teacher's logits as soft targets (config `distill.corpus`).

Selection: each review is split into sentences, lower-cased, filtered by length, de-duplicated,
cleaned of anything that could leak the task's dev set, and `n` of them are sampled with the
run's seed. The teacher's logits are cached in chunks (`corpus_logits/chunk-XXXX.npz`, each with
the ids of its sentences) so that an interrupted run continues at the first missing chunk.
"""
from __future__ import annotations

import gzip
import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edgebert.core.paths import training_data_dir
from edgebert.core.tasks import Example, encode_examples, read_sentences
from edgebert.core.tokenization import Encoded, Tokenizer
from edgebert.train import teacher

REVIEWS_FILE = Path("reviews") / "imdb_reviews.txt.gz"   # in the training data folder
MIN_WORDS = 5             # shorter fragments ("Very good!") carry little sentence-level signal
# Dev sentences of more than 6 tokens are guarded: the data README's leakage check found only
# shorter, generic ones ("bad .", "oh come on .") verbatim in the reviews.
LEAK_MIN_TOKENS = 7
CHUNK = 4096              # sentences per cached chunk: about 40 s of teacher time on one core
SELECTION = "selection.json"
SENTENCES = "sentences.txt"

_MARKUP = re.compile(r"<br\s*/?>|</?[a-z]+[^<>]*>", re.I)
# A sentence ends at '.', '!' or '?' (repeats allowed), optionally followed by one closing quote
# or bracket, then white space. Abbreviations ("Mr. Bip") are split too; the fragments are short
# and mostly fall under MIN_WORDS.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"')\]])\s+")
_KEY_DROP = re.compile(r"[^a-z0-9]")


def reviews_path(data_dir: Path | str | None) -> Path:
    """`reviews/imdb_reviews.txt.gz` in the training data folder; when that folder is the GLUE
    folder itself (as `training_glue_dir` accepts), in its parent."""
    base = training_data_dir(data_dir)
    candidates = [base / REVIEWS_FILE]
    if not (base / "glue").is_dir():
        candidates.append(base.parent / REVIEWS_FILE)
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"the review corpus is missing: looked for "
                            f"{' and '.join(map(str, candidates))} (one review per line, gzip)")


def split_sentences(review: str) -> list[str]:
    """Markup removed, white space collapsed, lower-cased, cut after sentence-final punctuation."""
    text = " ".join(_MARKUP.sub(" ", review).split()).lower()
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def leak_key(text: str) -> str:
    """Letters and digits only: SST-2 is PTB-tokenised ("does n't", "-lrb-" aside), the
    reviews are raw text ("doesn't"); both reduce to the same string."""
    return _KEY_DROP.sub("", text.lower())


class LeakGuard:
    """True for a sentence that equals or contains a guarded dev sentence (compared by
    `leak_key`). Candidates are found through a fixed-length anchor (each dev key's prefix), so
    a sentence costs one set lookup per character rather than one search per dev sentence."""

    def __init__(self, dev_sentences: list[str], min_tokens: int = LEAK_MIN_TOKENS):
        keys = {leak_key(s) for s in dev_sentences if len(s.split()) >= min_tokens}
        keys.discard("")
        self.k = min([16] + [len(k) for k in keys])
        self.by_anchor: dict[str, list[str]] = {}
        for key in keys:
            self.by_anchor.setdefault(key[:self.k], []).append(key)

    def __call__(self, sentence: str) -> bool:
        if not self.by_anchor:
            return False
        key, k = leak_key(sentence), self.k
        for i in range(len(key) - k + 1):
            found = self.by_anchor.get(key[i:i + k])
            if found and any(key.startswith(d, i) for d in found):
                return True
        return False


def select(path: Path, dev_sentences: list[str], n: int, seed: int,
           min_words: int = MIN_WORDS) -> tuple[list[str], dict]:
    """`n` sentences sampled with `seed` from the filtered corpus, and the counts per filter."""
    reviews, sentences = 0, []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in tqdm(f, desc="corpus sentences", unit="review"):
            if line.strip():
                reviews += 1
                sentences += split_sentences(line)
    long = [s for s in sentences if len(s.split()) >= min_words]
    distinct = list(dict.fromkeys(long))
    guard = LeakGuard(dev_sentences)
    clean = [s for s in tqdm(distinct, desc="leakage guard", unit="sentence") if not guard(s)]
    if n > len(clean):
        raise ValueError(f"distill.corpus.n = {n} but only {len(clean)} sentences pass the filters")
    sample = [clean[i] for i in random.Random(seed).sample(range(len(clean)), n)]
    counts = {"reviews": reviews, "sentences": len(sentences), "min_words": min_words,
              "after_min_words": len(long), "after_dedup": len(distinct),
              "leakage_removed": len(distinct) - len(clean), "after_filters": len(clean),
              "sampled": n}
    return sample, counts


def chunk_path(folder: Path, c: int) -> Path:
    return folder / f"chunk-{c:04d}.npz"


def cached_logits(model, encoded: list[Encoded], folder: Path, chunk: int = CHUNK) -> dict:
    """Teacher logits for every sentence, written chunk by chunk (ids c*chunk .. ); finished
    chunks are kept, so a killed run recomputes at most the chunk it was in. Each chunk is
    written under a temporary name and renamed, so a partial file is never taken for a chunk."""
    n_chunks = -(-len(encoded) // chunk)
    todo = [c for c in range(n_chunks) if not chunk_path(folder, c).is_file()]
    done_before = sum(min(chunk, len(encoded) - c * chunk) for c in range(n_chunks) if c not in todo)
    bar = tqdm(total=len(encoded), initial=done_before, desc="teacher logits corpus", unit="sentence")
    computed, t0 = 0, time.time()
    for c in todo:
        ids = np.arange(c * chunk, min((c + 1) * chunk, len(encoded)))
        z = teacher.logits(model, [encoded[i] for i in ids], progress=False)
        tmp = folder / f"chunk-{c:04d}.tmp.npz"
        np.savez(tmp, ids=ids, logits=z)
        tmp.rename(chunk_path(folder, c))
        computed += len(ids)
        bar.update(len(ids))
    bar.close()
    wall = time.time() - t0
    return {"chunks": n_chunks, "chunks_computed": len(todo), "sentences_computed": computed,
            "teacher_wall_s": round(wall, 1),
            "sentences_per_s": round(computed / wall, 1) if computed else None}


def load_logits(folder: Path, n: int) -> np.ndarray:
    """The cached logits in id order; every id 0..n-1 must occur exactly once."""
    parts = [np.load(p) for p in sorted(folder.glob("chunk-[0-9][0-9][0-9][0-9].npz"))]
    ids = np.concatenate([p["ids"] for p in parts])
    if len(ids) != n or not np.array_equal(np.sort(ids), np.arange(n)):
        raise ValueError(f"{folder} holds {len(ids)} logits for {n} sentences: rerun the "
                         "corpus_data step")
    out = np.zeros((n, parts[0]["logits"].shape[1]), np.float32)
    out[ids] = np.concatenate([p["logits"] for p in parts])
    return out


def prepare(spec: dict, seed: int, data_dir, dev_sentences: list[str], folder: Path,
            teacher_dir: Path, tok: Tokenizer, on=None) -> dict:
    """The `corpus_data` step: select (once; kept in `sentences.txt`) and label the sentences
    (the teacher on device `on`, default the CPU)."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {"n": spec["n"], "seed": seed, "min_words": spec.get("min_words", MIN_WORDS),
              "chunk": spec.get("chunk", CHUNK)}
    sel = folder / SELECTION
    if sel.is_file():
        stored = json.loads(sel.read_text())
        if stored["spec"] != wanted:
            raise ValueError(f"{folder} was selected with {stored['spec']}, the config asks for "
                             f"{wanted}: delete the folder to select again")
        counts = stored["counts"]
        sentences = (folder / SENTENCES).read_text(encoding="utf-8").splitlines()
    else:
        t0 = time.time()
        sentences, counts = select(reviews_path(data_dir), dev_sentences, wanted["n"], seed,
                                   wanted["min_words"])
        counts["selection_wall_s"] = round(time.time() - t0, 1)
        (folder / SENTENCES).write_text("".join(s + "\n" for s in sentences), encoding="utf-8")
        sel.write_text(json.dumps({"spec": wanted, "counts": counts}, indent=1))
    encoded = encode_examples([Example(s, None, -1) for s in sentences], tok)
    timing = cached_logits(teacher.load_finetuned(teacher_dir, on), encoded, folder, wanted["chunk"])
    return {**counts, **timing,
            "mean_tokens": float(np.mean([len(e) for e in encoded]))}


@dataclass
class CorpusSet:
    """Corpus sentences with the teacher's logits; `mix` is the fraction of stage-1 batches
    drawn from them."""
    encoded: list[Encoded]
    logits: np.ndarray
    mix: float


def load(folder: Path, tok: Tokenizer, mix: float) -> CorpusSet:
    sentences = (folder / SENTENCES).read_text(encoding="utf-8").splitlines()
    encoded = encode_examples([Example(s, None, -1) for s in sentences], tok)
    return CorpusSet(encoded, load_logits(folder, len(sentences)), mix)


def glue_sentences(corpora: list[str], min_words: int, own_folder: str, own_train: list[Example],
                   glue_dir: Path | None) -> list[str]:
    """Distinct sentences of at least `min_words` words from the named GLUE training files; of
    the run's own task (`own_folder`) only its training split: the validation split stays unseen."""
    texts = []
    for folder in corpora:
        if folder == own_folder:
            texts += [t for e in own_train for t in (e.text_a, e.text_b) if t]
        else:
            texts += read_sentences(folder, glue_dir)
    return [t for t in dict.fromkeys(texts) if len(t.split()) >= min_words]


def general_texts(spec: dict, own_folder: str, own_train: list[Example], glue_dir: Path | None,
                  dev_sentences: list[str], seed: int) -> tuple[list[str], dict]:
    """The unlabelled texts of general distillation (config `stages.general`): the sentences of
    the GLUE folders in `corpora`, then `reviews` sentences sampled from the review corpus (with
    the same filters and leakage guard as corpus distillation); and their counts."""
    if not spec.get("corpora") and not spec.get("reviews"):
        raise ValueError('stages.general needs "corpora" (GLUE folders such as ["SST-2", "MRPC", '
                         '"RTE"]) or "reviews" (a number of review-corpus sentences)')
    min_words = spec.get("min_words", 8)
    texts = glue_sentences(spec.get("corpora", []), min_words, own_folder, own_train, glue_dir)
    counts = {"glue_sentences": len(texts)}
    if spec.get("reviews"):
        sample, selected = select(reviews_path(glue_dir), dev_sentences, spec["reviews"], seed, min_words)
        counts["reviews"] = selected
        texts = list(dict.fromkeys(texts + sample))
    return texts, counts
