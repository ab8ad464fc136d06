"""Opt-in (`pytest -m slow`): a few hundred real training steps on SST-2."""
import numpy as np
import pytest
import torch

from edgebert.core.config import load_model_config
from edgebert.core.paths import DEFAULT_MODEL_DIR
from edgebert.core.tasks import encode_examples, get_task, read_examples
from edgebert.core.tokenization import Tokenizer
from edgebert.train.embedding import load_table
from edgebert.train.evaluate import all_layer_logits, per_layer_accuracy
from edgebert.train.model import EdgeBert
from edgebert.train.package import EMBEDDING_FILE
from edgebert.train.stages import stage1

pytestmark = pytest.mark.slow


def test_stage1_loss_falls_and_beats_chance():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    task = get_task("sst2")
    cfg = load_model_config("tiny", layers=4)   # fewer uses of the shared layer: a faster test
    tok = Tokenizer(cfg.max_len)
    train = read_examples(task, "train")[:12800]
    dev = read_examples(task, "dev")[:400]
    y = np.array([e.label for e in train])
    # Gold labels stand in for a teacher: confident one-hot logits.
    teacher = (np.eye(2)[y] * 4.0 - 2.0).astype(np.float32)
    model = EdgeBert(cfg, load_table(DEFAULT_MODEL_DIR / EMBEDDING_FILE))
    hp = {"seed": 0, "epochs": 1, "batch_size": 32, "lr": 5e-4, "beta2": 0.98, "warmup": 0.05,
          "temperature": 2.0, "alpha_ce": 0.5, "ramp_weight": 0.0, "span_l1": 0.002,
          "encoder_sparsity": 0.5, "prune_start": 0.2, "prune_end": 0.7}
    result = stage1(model, encode_examples(train, tok), teacher, y, hp, validate=None)
    assert result["steps"] == 400
    assert result["loss_last_tenth"] < 0.8 * result["loss_first_tenth"]
    acc = per_layer_accuracy(all_layer_logits(model, encode_examples(dev, tok)),
                             np.array([e.label for e in dev]))[-1]
    assert acc > 0.60, acc   # chance is 0.51 on SST-2 dev
    w = model.layer.ffn1.weight
    assert (w == 0).float().mean().item() == pytest.approx(0.5, abs=0.01)
