"""Teacher-labelled data augmentation for distillation (Tang et al. 2019, "Distilling
task-specific knowledge from BERT into simple neural networks").

Per synthetic sentence, each word is masked with p_mask or replaced by a word drawn from the
training unigram distribution with p_replace; with p_ngram the result is cut to a random n-gram
(n = 1..5). Beyond Tang et al., a share of samples joins two training sentences, because SST-2
dev sentences are about twice as long as its training phrases, and `min_words` restricts the
source sentences to long ones (complete sentences rather than the treebank's short phrases).
The teacher labels every sample.
Sentence pairs (MRPC) are augmented per side; a share of pairs gets a random second sentence
(`p_swap_pair`), a share has its two sides in the other order (`p_flip`, paraphrase being
symmetric), and a share pairs a sentence with a perturbed copy of itself (`p_self_pair`).
"""
from __future__ import annotations

import random
from collections import Counter
from itertools import accumulate

from edgebert.core.tasks import Example

MASK = "[MASK]"


class Augmenter:
    def __init__(self, examples: list[Example], seed: int, p_mask: float = 0.1,
                 p_replace: float = 0.1, p_ngram: float = 0.25, p_join: float = 0.25,
                 p_swap_pair: float = 0.2, min_words: int = 0, p_flip: float = 0.0,
                 p_self_pair: float = 0.0):
        self.rng = random.Random(seed)
        self.examples = [e for e in examples if len(e.text_a.split()) >= min_words]
        if not self.examples:
            raise ValueError(f"no training sentence has at least {min_words} words")
        counts = Counter(w for e in examples for t in (e.text_a, e.text_b) if t for w in t.split())
        self.words, weights = zip(*counts.items())
        self.cum_weights = list(accumulate(weights))   # once, not per drawn word
        self.p_mask, self.p_replace, self.p_ngram = p_mask, p_replace, p_ngram
        self.p_join, self.p_swap_pair = p_join, p_swap_pair
        self.p_flip, self.p_self_pair = p_flip, p_self_pair

    def _words(self, text: str) -> list[str]:
        out = []
        for w in text.split():
            r = self.rng.random()
            if r < self.p_mask:
                out.append(MASK)
            elif r < self.p_mask + self.p_replace:
                out.append(self.rng.choices(self.words, cum_weights=self.cum_weights)[0])
            else:
                out.append(w)
        return out

    def _sentence(self, text: str) -> str:
        words = self._words(text)
        if len(words) > 1 and self.rng.random() < self.p_ngram:
            n = self.rng.randint(1, min(5, len(words)))
            start = self.rng.randint(0, len(words) - n)
            words = words[start:start + n]
        return " ".join(words)

    def sample(self) -> Example:
        e = self.rng.choice(self.examples)
        if e.text_b is None:
            text = self._sentence(e.text_a)
            if self.rng.random() < self.p_join:
                text = text + " " + self._sentence(self.rng.choice(self.examples).text_a)
            return Example(text, None, -1)
        a, b = e.text_a, e.text_b
        r = self.rng.random()
        if r < self.p_swap_pair:
            b = self.rng.choice(self.examples).text_b
        elif r < self.p_swap_pair + self.p_self_pair:
            b = a
        if self.p_flip and self.rng.random() < self.p_flip:
            a, b = b, a
        return Example(" ".join(self._words(a)), " ".join(self._words(b)), -1)

    def generate(self, n: int) -> list[Example]:
        """`n` synthetic examples; label -1 means 'teacher-labelled only'."""
        out = []
        while len(out) < n:
            ex = self.sample()
            if ex.text_a.strip() and (ex.text_b is None or ex.text_b.strip()):
                out.append(ex)
        return out
