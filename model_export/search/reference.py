"""The shipped model as the search's reference point on the same board and target: its golden
model's dev accuracy with early exit, and the cycle model's p99 dev latency of its own exits on
the board's build at the top clock (sentences truncated to the build's longest)."""
from __future__ import annotations

import numpy as np

from edgebert.accel.artifact import threshold_q16
from edgebert.accel.builds import schedule_for
from edgebert.accel.golden import GoldenModel, evaluate_set
from edgebert.accel.images import embedding_record_words
from edgebert.core.tasks import encode_examples, read_examples
from edgebert.core.tokenization import Tokenizer
from edgebert.runtime.boards import get_board
from edgebert.runtime.inputs import max_tokens
from edgebert.train.early_exit import exit_layers, exit_predictions


def dev_lengths(task, max_len: int = 128) -> list[int]:
    """Tokens of each dev sentence (pair), at most `max_len`."""
    return [len(e) for e in encode_examples(read_examples(task, "dev"), Tokenizer(max_len))]


def shipped_point(hw, task, board: str, model: str = "tiny") -> dict:
    """`hw`: the shipped artifact's task."""
    encoded = encode_examples(read_examples(task, "dev"), Tokenizer(max_tokens(hw, board)))
    y = np.array([e.label for e in read_examples(task, "dev")])
    t = threshold_q16(hw.threshold)
    run = evaluate_set(GoldenModel(hw), encoded, t, progress=False)
    exits = exit_layers(run["entropies"], t / 2.0 ** 16)      # the Q.16 compare, exactly
    pred = exit_predictions(run["logits"], exits)
    sched = schedule_for(hw, board).warm()
    cycles = [sched.phase1_cycles(embedding_record_words(hw.word_table, e.ids)) + sched.phase2_cycles(len(e), x - 1)
              for e, x in zip(encoded, exits)]
    top = get_board(board).top_clock
    return {"model": model, "accuracy": float((pred == y).mean()), "accuracy_source": "golden, dev, full recipe",
            "latency_ms": float(np.percentile(cycles, 99)) / (top * 1e3), "avg_exit_layer": float(exits.mean())}
