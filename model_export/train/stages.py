"""Student training in EdgeBERT's two stages.

Stage 1 trains the backbone (embedding projection, shared layer, final classifier) by
distillation from cached teacher logits, while the adaptive spans shrink under their L1 penalty
and the encoder weights are pruned on a cubic schedule. Beyond EdgeBERT, the off-ramps are
trained jointly in stage 1 with layer-proportional weights (as PABEE does), which makes the
early layers' representations usable for early exit in a small model. Stage 2 freezes the
backbone and trains off-ramps 1..L-1 only.
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from edgebert.core.tokenization import Encoded
from edgebert.train import device
from edgebert.train.batches import bucketed_batches, collate
from edgebert.train.model import PRUNABLE, EdgeBert, ramp_poolers
from edgebert.train.pruning import MagnitudePruner, magnitude_mask


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor | None,
                      temperature: float, alpha_ce: float) -> torch.Tensor:
    """alpha_ce * CE(labels) + (1 - alpha_ce) * T^2 * KL(teacher_T || student_T) (Hinton 2015).
    Unlabelled batches (`labels` None) keep the KL term alone, at the same weight."""
    kl = F.kl_div(F.log_softmax(student / temperature, -1), F.softmax(teacher / temperature, -1),
                  reduction="batchmean") * temperature ** 2
    if labels is None:
        return (1 - alpha_ce) * kl
    return alpha_ce * F.cross_entropy(student, labels) + (1 - alpha_ce) * kl


def layers_loss(logits: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor | None,
                weights, temperature: float, alpha_ce: float) -> torch.Tensor:
    """Distillation loss of the final classifier plus weights[l] x that of off-ramp l."""
    loss = distillation_loss(logits[:, -1], teacher, labels, temperature, alpha_ce)
    for l, w in enumerate(weights):
        if w > 0:
            loss = loss + w * distillation_loss(logits[:, l], teacher, labels, temperature, alpha_ce)
    return loss


def on(hp: dict) -> torch.device:
    """The device a stage trains on (`hp["device"]`, set by the pipeline; the CPU without it)."""
    return torch.device(hp.get("device") or "cpu")


def warmup_linear(total: int, warmup: int):
    """Learning-rate factor: linear warm-up over `warmup` steps, then linear decay to 0."""
    return lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup))


def write_state(state: dict, path: Path) -> None:
    """A mid-run checkpoint, written under a temporary name and renamed: a kill while writing
    leaves the previous one whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def read_state(path: Path, fingerprint: str, what: str) -> dict:
    """The checkpoint at `path`, loaded on the CPU (a run resumes on either device); refused
    when it was written with other settings than `fingerprint`."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["fingerprint"] != fingerprint:
        raise ValueError(f"{path} was written by another configuration of {what!r}: "
                         "delete it to start again")
    return state


class BatchStream:
    """An endless stream of index batches, one shuffled epoch after another, that can say where
    it is (the random state at the start of the current epoch and the batches taken since) and
    go back there: a resumed run draws exactly the batches the uninterrupted one would."""

    def __init__(self, make_epoch, rng: random.Random):
        self.make_epoch, self.rng = make_epoch, rng
        self.epoch, self.pos, self.epoch_state = [], 0, None

    def __next__(self) -> list[int]:
        if self.pos >= len(self.epoch):
            self.epoch_state = self.rng.getstate()
            self.epoch, self.pos = self.make_epoch(self.rng), 0
        self.pos += 1
        return self.epoch[self.pos - 1]

    def state(self) -> dict:
        return {"rng": self.epoch_state, "pos": self.pos}

    def restore(self, state: dict) -> None:
        if state["rng"] is not None:
            self.rng.setstate(state["rng"])
            self.epoch_state = state["rng"]
            self.epoch, self.pos = self.make_epoch(self.rng), state["pos"]


class _Trainer:
    """Shared loop: bucketed batches, Adam with warm-up and linear decay, periodic validation,
    an exponential moving average of the weights (kept when it validates better).
    With a `corpus` (encoded sentences, teacher logits, mix), a `mix` fraction of the batches,
    evenly spread, comes from it with label None; the others follow the task stream as without.
    With `hp["checkpoint"]` (a file) the whole training state is saved there every
    `hp["checkpoint_minutes"]` (default 5) and a run that finds it resumes at the step after it,
    with the same result as an uninterrupted run; the file is removed when the stage ends."""

    def __init__(self, model: EdgeBert, encoded: list[Encoded], teacher_logits: np.ndarray,
                 labels: np.ndarray, hp: dict, params, desc: str, corpus=None):
        self.model, self.encoded, self.hp, self.desc = model, encoded, hp, desc
        self.corpus = corpus
        self.device = on(hp)
        model.to(self.device)       # before the optimizer is built over its parameters
        self.teacher = torch.from_numpy(teacher_logits).to(self.device)
        # Teacher-labelled samples carry label -1: their hard label is the teacher's argmax.
        hard = np.where(labels >= 0, labels, teacher_logits.argmax(1))
        self.labels = torch.from_numpy(hard.astype(np.int64)).to(self.device)
        self.rng = random.Random(hp["seed"])
        self.params = [p for p in params if p.requires_grad]
        self.opt = torch.optim.Adam(self.params, lr=hp["lr"], betas=(0.9, hp.get("beta2", 0.98)),
                                    weight_decay=hp.get("weight_decay", 0.0))
        steps_per_epoch = math.ceil(len(encoded) / hp["batch_size"])
        self.total = int(hp["steps"]) if "steps" in hp else int(hp["epochs"] * steps_per_epoch)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, warmup_linear(self.total, int(hp.get("warmup", 0.1) * self.total)))
        self.ema_decay = hp.get("ema", 0.0)
        self.ema = [p.detach().clone() for p in self.params] if self.ema_decay else None

    def batches(self) -> BatchStream:
        # `length_power` p > 0 draws sentences in proportion to min(length, 64)^p: the
        # treebank's short phrases outnumber the complete sentences users classify.
        p = self.hp.get("length_power", 0.0)
        weights = [min(len(e), 64) ** p for e in self.encoded] if p else None
        return BatchStream(lambda rng: bucketed_batches(self.encoded, self.hp["batch_size"], True, rng,
                                                    weights=weights), self.rng)

    def corpus_batches(self) -> BatchStream:
        rng = random.Random(self.hp["seed"] + 1)   # its own stream: the task batches are unchanged
        return BatchStream(lambda r: bucketed_batches(self.corpus.encoded, self.hp["batch_size"], True, r), rng)

    def from_corpus(self, step: int) -> bool:
        """Step `step` (1-based) takes a corpus batch when floor(step * mix) grows: mix 0.5 is
        every other batch, 0.25 every fourth."""
        m = self.corpus.mix if self.corpus is not None else 0.0
        return math.floor(step * m) > math.floor((step - 1) * m)

    def _fingerprint(self) -> str:
        """What a checkpoint must have been written with to be resumed."""
        hp = {k: v for k, v in self.hp.items() if k not in ("checkpoint", "checkpoint_minutes", "device")}
        return json.dumps({"desc": self.desc, "total": self.total, "hp": hp,
                           "shapes": [list(p.shape) for p in self.params]}, sort_keys=True, default=str)

    def _save(self, path: Path, loop: dict, extra) -> None:
        state = {"fingerprint": self._fingerprint(), "params": [p.detach().clone() for p in self.params],
                 "opt": self.opt.state_dict(), "sched": self.sched.state_dict(), "ema": self.ema,
                 "torch_rng": device.rng_state(self.device), "extra": extra.state_dict() if extra else None,
                 **loop, "streams": [s.state() if s else None for s in loop["streams"]]}
        write_state(state, path)

    def _restore(self, path: Path, streams, extra) -> dict:
        state = read_state(path, self._fingerprint(), self.desc)
        with torch.no_grad():
            for p, saved in zip(self.params, state["params"]):
                p.copy_(saved)
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.ema = [e.to(self.device) for e in state["ema"]] if state["ema"] else state["ema"]
        device.set_rng_state(state["torch_rng"], self.device)
        if extra:
            extra.load_state_dict(state["extra"])
        for stream, saved in zip(streams, state["streams"]):
            if stream:
                stream.restore(saved)
        tqdm.write(f"{self.desc}: resumed after step {state['step']} from {path}")
        return {k: state[k] for k in ("step", "losses", "history", "n_corpus")}

    def run(self, loss_fn, after_step=None, validate=None, extra=None) -> dict:
        """`extra`: an object with state_dict()/load_state_dict() saved with the checkpoint (a
        pruner's masks)."""
        t0 = time.time()
        every = max(1, int(self.total * self.hp.get("validate_every", 0.25)))
        batches = self.batches()
        corpus = self.corpus_batches() if self.corpus is not None else None
        corpus_logits = torch.from_numpy(self.corpus.logits).to(self.device) if corpus else None
        ckpt = Path(self.hp["checkpoint"]) if self.hp.get("checkpoint") else None
        save_every_s, last_save = 60 * self.hp.get("checkpoint_minutes", 5.0), time.time()
        loop = {"step": 0, "losses": [], "history": [], "n_corpus": 0}
        if ckpt and ckpt.is_file():
            loop = self._restore(ckpt, (batches, corpus), extra)
        losses, history, n_corpus, resumed = loop["losses"], loop["history"], loop["n_corpus"], loop["step"]
        bar = tqdm(total=self.total, initial=loop["step"], desc=self.desc, unit="step")
        for step in range(loop["step"] + 1, self.total + 1):
            self.model.train()
            if corpus and self.from_corpus(step):
                b = collate(self.corpus.encoded, next(corpus)).to(self.device)
                loss = loss_fn(b, corpus_logits[b.index], None)
                n_corpus += 1
            else:
                b = collate(self.encoded, next(batches)).to(self.device)
                loss = loss_fn(b, self.teacher[b.index], self.labels[b.index])
            self.opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, 1.0)
            self.opt.step()
            self.sched.step()
            if after_step:
                after_step(step)
            if self.ema:
                with torch.no_grad():
                    for e, p in zip(self.ema, self.params):
                        e.lerp_(p, 1 - self.ema_decay)
            losses.append(loss.item())
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-200:]):.4f}")
            if validate and (step % every == 0 or step == self.total):
                history.append({"step": step, "loss": float(np.mean(losses[-200:])), **validate()})
                tqdm.write(f"{self.desc} step {step}: {history[-1]}")
            if ckpt and step < self.total and time.time() - last_save >= save_every_s:
                self._save(ckpt, {"step": step, "losses": losses, "history": history,
                                  "n_corpus": n_corpus, "streams": (batches, corpus)}, extra)
                last_save = time.time()
        bar.close()
        if ckpt:
            ckpt.unlink(missing_ok=True)
        tenth = max(1, len(losses) // 10)
        result = {"steps": self.total, "wall_s": round(time.time() - t0, 1),
                  "loss_first_tenth": float(np.mean(losses[:tenth])),
                  "loss_last_tenth": float(np.mean(losses[-tenth:])), "history": history}
        if corpus:
            result["corpus_batches"] = n_corpus
        if resumed:
            result["resumed_after_step"] = resumed      # wall_s counts from the resume
        if self.ema and validate:
            result["ema"] = self._keep_better_ema(validate, history[-1] if history else None)
        return result

    def _keep_better_ema(self, validate, last: dict | None) -> dict:
        raw = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, e in zip(self.params, self.ema):
                p.copy_(e)
        scored = validate()
        if last is not None and scored["val_score"] < last["val_score"]:
            with torch.no_grad():
                for p, r in zip(self.params, raw):
                    p.copy_(r)
            return {"kept": False, **scored}
        return {"kept": True, **scored}


class HiddenDistiller(torch.nn.Module):
    """Intermediate-layer distillation (TinyBERT, Jiao et al. 2020): the student's hidden state
    after use 2m of the shared layer, mapped by a learned H -> H_teacher matrix, regresses the
    teacher's hidden state after its layer m (MSE over real tokens). The map is discarded after
    training; it starts as the identity when the widths match. The teacher runs on each batch, so
    only its logits are cached."""

    def __init__(self, teacher, student_hidden: int, student_layers: int):
        super().__init__()
        t_cfg = teacher.config       # first: a teacher ensemble refuses here, with its reason
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad = False
        self.pairs = [(round(m * student_layers / t_cfg.num_hidden_layers) - 1, m)
                      for m in range(1, t_cfg.num_hidden_layers + 1)]
        self.proj = torch.nn.Linear(student_hidden, t_cfg.hidden_size)
        if student_hidden == t_cfg.hidden_size:   # a student of the teacher's width starts mapped 1:1
            with torch.no_grad():
                self.proj.weight.copy_(torch.eye(student_hidden))
                self.proj.bias.zero_()

    def loss(self, b, student_hidden: list[torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            t_hidden = self.teacher(input_ids=b.ids, token_type_ids=b.token_types,
                                    attention_mask=b.pad_mask.long(),
                                    output_hidden_states=True).hidden_states
        keep = b.pad_mask[..., None].float()
        total = 0.0
        for s, t in self.pairs:
            err = (self.proj(student_hidden[s]) - t_hidden[t]) ** 2 * keep
            total = total + err.sum() / (keep.sum() * err.shape[-1])
        return total / len(self.pairs)


def general(model: EdgeBert, encoded, hp: dict, teacher_model) -> dict:
    """General distillation (TinyBERT's first stage, Jiao et al. 2020): before any task
    training, the student's hidden states regress the pre-trained teacher's on unlabelled
    sentences. No labels and no logits are involved; the off-ramps are left as they are."""
    distiller = HiddenDistiller(teacher_model, model.cfg.hidden, model.cfg.layers).to(on(hp))
    for p in model.parameters():
        p.requires_grad = True
    params = list(model.parameters()) + list(distiller.proj.parameters())
    n = len(encoded)
    trainer = _Trainer(model, encoded, np.zeros((n, model.cfg.num_labels), np.float32),
                       np.zeros(n, np.int64), hp, params, "general")

    def loss_fn(b, _t_logits, _y):
        _, hidden = model(b.ids, b.token_types, b.pad_mask, return_hidden=True)
        return distiller.loss(b, hidden)
    return trainer.run(loss_fn)


def stage1(model: EdgeBert, encoded, teacher_logits, labels, hp: dict, validate,
           teacher_model=None, corpus=None) -> dict:
    """Backbone with distillation, span penalty and gradual magnitude pruning; with
    `hp["hidden_weight"] > 0` also intermediate-layer distillation from `teacher_model`; with
    `corpus` (a `corpus.CorpusSet`) part of the batches are unlabelled corpus sentences."""
    for p in model.parameters():
        p.requires_grad = True
    model.position_embeddings.weight.requires_grad = not hp.get("freeze_position", False)
    hidden_w = hp.get("hidden_weight", 0.0)
    distiller = None
    params = list(model.parameters())
    if hidden_w > 0:
        if teacher_model is None:
            raise ValueError("hidden_weight > 0 needs the fine-tuned teacher model")
        distiller = HiddenDistiller(teacher_model, model.cfg.hidden, model.cfg.layers).to(on(hp))
        params += list(distiller.proj.parameters())
    trainer = _Trainer(model, encoded, teacher_logits, labels, hp, params, "stage 1", corpus)
    pruner = MagnitudePruner(model, PRUNABLE, hp["encoder_sparsity"],
                             start_step=int(hp["prune_start"] * trainer.total),
                             end_step=int(hp["prune_end"] * trainer.total),
                             hold_zeros=hp.get("hold_zeros", False))
    L = model.cfg.layers
    ramp_w = torch.arange(1, L, dtype=torch.float32)
    ramp_w = (hp.get("ramp_weight", 0.0) * ramp_w / ramp_w.sum()).tolist()   # PABEE-style: later layers weigh more
    T, a = hp["temperature"], hp["alpha_ce"]

    def loss_fn(b, t_logits, y):
        logits, hidden = model(b.ids, b.token_types, b.pad_mask, return_hidden=True)
        loss = layers_loss(logits, t_logits, y, ramp_w, T, a)
        if distiller is not None:
            loss = loss + hidden_w * distiller.loss(b, hidden)
        return loss + hp["span_l1"] * model.layer.span_frac.clamp(0, 1).sum()

    def after_step(step):
        pruner.step(step)
        with torch.no_grad():
            model.layer.span_frac.clamp_(0.0, 1.0)

    result = trainer.run(loss_fn, after_step, validate, pruner)
    pruner.apply()   # also re-applies the masks to the averaged weights
    result["final_sparsity"] = pruner.sparsity
    return result


def stage2(model: EdgeBert, encoded, teacher_logits, labels, hp: dict, validate) -> dict:
    """Off-ramps 1..L-1 only; the backbone and the final classifier are frozen. With
    `ramp_sparsity`, every off-ramp pooler is pruned by magnitude too: the trained ones on the
    cubic schedule over `ramp_prune_start`..`ramp_prune_end` of the stage, the final one (frozen)
    at once; QAT keeps the zeros."""
    for p in model.parameters():
        p.requires_grad = False
    L = model.cfg.layers
    params = [p for l in range(L - 1) for p in model.ramps[l].parameters()]
    for p in params:
        p.requires_grad = True
    trainer = _Trainer(model, encoded, teacher_logits, labels, hp, params, "stage 2")
    T, a = hp["temperature"], hp["alpha_ce"]
    sparsity = hp.get("ramp_sparsity", 0.0)
    pruner = None
    if sparsity > 0:
        final = dict(model.named_parameters())[ramp_poolers(L)[-1]]
        with torch.no_grad():
            final.mul_(magnitude_mask(final, sparsity))
        pruner = MagnitudePruner(model, ramp_poolers(L)[:-1], sparsity,
                                 start_step=int(hp.get("ramp_prune_start", 0.0) * trainer.total),
                                 end_step=int(hp.get("ramp_prune_end", 0.5) * trainer.total))

    def loss_fn(b, t_logits, y):
        with torch.no_grad():
            _, hidden = model(b.ids, b.token_types, b.pad_mask, num_layers=L - 1, return_hidden=True)
        return sum(distillation_loss(model.ramps[l](hidden[l]), t_logits, y, T, a)
                   for l in range(L - 1)) / (L - 1)

    result = trainer.run(loss_fn, pruner.step if pruner else None, validate, pruner)
    if pruner:
        pruner.apply()   # the averaged weights too
        result["ramp_sparsity"] = pruner.sparsity
    return result


def qat(model: EdgeBert, encoded, teacher_logits, labels, hp: dict, validate) -> dict:
    """Quantization-aware fine-tuning of every weight with the hardware's numerics switched on
    (the caller sets the model's FakeQuantHooks). Pruned weights stay zero; the final
    classifier and every off-ramp are distilled together."""
    for p in model.parameters():
        p.requires_grad = True
    model.position_embeddings.weight.requires_grad = not hp.get("freeze_position", False)
    trainer = _Trainer(model, encoded, teacher_logits, labels, hp, model.parameters(), "QAT")
    named = dict(model.named_parameters())
    # Pruned matrices keep their zeros (a dense pooler has no exact zeros to keep).
    masks = {n: (named[n] != 0).float() for n in PRUNABLE + ramp_poolers(model.cfg.layers)}
    L = model.cfg.layers
    ramp_w = [hp.get("ramp_weight", 1.0) / (L - 1)] * (L - 1)   # every off-ramp alike
    T, a = hp["temperature"], hp["alpha_ce"]

    def loss_fn(b, t_logits, y):
        loss = layers_loss(model(b.ids, b.token_types, b.pad_mask), t_logits, y, ramp_w, T, a)
        return loss + hp.get("span_l1", 0.0) * model.layer.span_frac.clamp(0, 1).sum()

    def keep_masks(step):
        with torch.no_grad():
            for n, m in masks.items():
                named[n].mul_(m)
            model.layer.span_frac.clamp_(0.0, 1.0)

    result = trainer.run(loss_fn, keep_masks, validate)
    keep_masks(None)     # the averaged weights too
    return result
