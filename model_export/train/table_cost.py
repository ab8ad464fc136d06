"""What a frozen word table costs the pre-trained computation.

The fine-tuned teacher is scored on dev with its own word embeddings replaced by a table's
reconstruction, mean + table @ basis^T (the centred projection to E dimensions of
`edgebert.train.embedding`, pruned and rounded to fp16 as stored), and nothing retrained. A
student trained on the table can adapt around it; this measures what the projection and the
pruning remove before any adaptation, and so what a student that starts from the teacher's
pre-trained layers is given to work with.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgebert.core.tasks import encode_examples, get_task, read_examples
from edgebert.core.tokenization import Tokenizer
from edgebert.train import evaluate as ev
from edgebert.train import teacher
from edgebert.train.embedding import build_table, low_rank_basis


def reconstruction(word: torch.Tensor, width: int, sparsity: float) -> torch.Tensor:
    """The table of `width` columns built from `word`, mapped back to the teacher's space."""
    mean, basis = low_rank_basis(word, width)
    return build_table(word, width, sparsity) @ basis.T + mean


@torch.no_grad()
def table_cost(teacher_dir: Path, task_name: str, widths: list[int], sparsities: list[float],
               glue_dir: Path | None = None) -> dict:
    """Dev accuracy (and F1 for pair tasks) of the teacher in `teacher_dir` as it is and with each
    (width, sparsity) table in place of its word embeddings."""
    model = teacher.load_finetuned(teacher_dir)
    if isinstance(model, teacher.Ensemble):
        raise ValueError(f"{teacher_dir} holds a teacher ensemble: name one member folder")
    task = get_task(task_name)
    examples = read_examples(task, "dev", glue_dir)
    enc = encode_examples(examples, Tokenizer(model.config.max_position_embeddings))
    labels = np.array([e.label for e in examples])
    table = model.bert.embeddings.word_embeddings.weight
    full = int(table.shape[1])
    if bad := [w for w in widths if not 0 < w <= full]:
        raise ValueError(f"table widths {bad}: each must be in 1..{full} (the teacher's width)")
    original = table.detach().clone()

    def score() -> dict:
        pred = teacher.logits(model, enc, progress=False).argmax(1)
        out = {"accuracy": float((pred == labels).mean())}
        if "f1" in task.metrics:
            out["f1"] = ev.f1_score(pred, labels)
        return out

    rows = []
    try:
        baseline = score()
        for width in widths:
            for sparsity in sparsities:
                table.copy_(reconstruction(original, width, sparsity))
                rows.append({"width": width, "sparsity": sparsity, **score()})
    finally:
        table.copy_(original)
    return {"task": task.name, "teacher": str(teacher_dir), "n": int(len(labels)),
            "teacher_width": full, "teacher_as_is": baseline, "tables": rows}
