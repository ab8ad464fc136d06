"""The training pipeline as a list of named steps (teacher -> embedding -> general ->
distill_data -> sentence_data -> corpus_data -> stage1 -> screen -> sentence_tuning -> stage2 ->
qat -> calibrate -> package -> export).
Each step writes `reports/<step>.json` in the run folder; a step whose report exists is skipped,
so an interrupted run resumes where it stopped. Steps a config does not ask for report "skipped".
`teacher_from`: the teacher, embedding and distill_data steps come from another run (train.reuse).
"""
from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from edgebert.accel.predictor import Binned
from edgebert.core.config import load_model_config
from edgebert.core.paths import REPO_ROOT
from edgebert.core.tasks import Example, encode_examples, get_task, read_examples, split_train
from edgebert.core.tokenization import Tokenizer
from edgebert.train import calibration, corpus, device, pretrained, reuse, teacher
from edgebert.train import evaluate as ev
from edgebert.train.augment import Augmenter
from edgebert.train.embedding import load_table, low_rank_basis, make_table, save_table, sha256_file
from edgebert.train.export import export_model_dir
from edgebert.train.model import PRUNABLE, EdgeBert, ramp_poolers
from edgebert.train.package import EMBEDDING_FILE, load_checkpoint, save_checkpoint, save_task
from edgebert.train.predictor import fit_predictors
from edgebert.train.pruning import sparsity_report
from edgebert.train.quant import FakeQuantHooks, calibrate_formats
from edgebert.train.screen import screen
from edgebert.train.span import removable_heads
from edgebert.train.stages import general, qat, stage1, stage2

STEPS = ("teacher", "embedding", "general", "distill_data", "sentence_data", "corpus_data",
         "stage1", "screen", "sentence_tuning", "stage2", "qat", "calibrate", "package", "export")
LONG_TOKENS = 25   # validation sentences this long are scored apart: they resemble GLUE dev


class Run:
    def __init__(self, cfg: dict, out: Path, glue_dir: Path | None, observer=None):
        self.cfg, self.out, self.glue_dir = cfg, Path(out), glue_dir
        self.observer = observer     # called with every validation result (a search's progress)
        self.task = get_task(cfg["task"])
        self.model_cfg = load_model_config(cfg["model"], num_labels=self.task.num_labels)
        self.tok = Tokenizer(self.model_cfg.max_len)
        self.seed = cfg["seed"]
        self.device = device.resolve(cfg.get("device"))   # the training stages' and the teacher's
        self._data = None
        self._encoded = {}

    # ---- data ---------------------------------------------------------------------------
    @property
    def data(self) -> dict:
        if self._data is None:
            train, val = split_train(read_examples(self.task, "train", self.glue_dir),
                                     self.cfg["validation_size"], self.seed,
                                     by=self.cfg.get("validation_split", "example"))
            dev = read_examples(self.task, "dev")
            self._data = {"train": train, "val": val, "dev": dev}
        return self._data

    def encoded(self, split: str):
        """Encoded once per run; stages, validation and calibration reuse it."""
        if split not in self._encoded:
            self._encoded[split] = encode_examples(self.data[split], self.tok)
        return self._encoded[split]

    def labels(self, split: str) -> np.ndarray:
        return np.array([e.label for e in self.data[split]])

    def path(self, name: str) -> Path:
        return self.out / name

    def stage_hp(self, stage: str, **defaults) -> dict:
        """A stage's settings, with the run's seed and device and the file of its mid-stage checkpoint."""
        return {"seed": self.seed, "checkpoint": self.path(f"checkpoints/{stage}.pt"),
                "device": self.device, **defaults, **self.cfg["stages"][stage]}

    def embedding_path(self) -> Path:
        return REPO_ROOT / self.cfg["embedding"]["path"]

    def new_model(self) -> EdgeBert:
        torch.manual_seed(self.seed)
        model = EdgeBert(self.model_cfg, load_table(self.embedding_path()),
                         dropout=self.cfg["stages"].get("stage1", {}).get("dropout", 0.1))
        init = torch.load(self.path("embedding_init.pt"))
        with torch.no_grad():
            model.position_embeddings.weight.copy_(init["position"][: self.model_cfg.max_len])
            model.type_embeddings.weight.copy_(init["type"])
        return model

    # ---- steps --------------------------------------------------------------------------
    def step_teacher(self) -> dict:
        if (taken := reuse.report_for("teacher", self.cfg, self.out, self.model_cfg.embed_dim)) is not None:
            return taken
        hp = self.cfg["teacher"]

        def score(model):   # validation and dev: an ensemble's members are compared on validation
            out = {}
            for split in ("val", "dev"):
                pred = teacher.logits(model, self.encoded(split), desc=f"teacher {split}").argmax(1)
                out[f"{split}_accuracy"] = float((pred == self.labels(split)).mean())
                if "f1" in self.task.metrics:
                    out[f"{split}_f1"] = ev.f1_score(pred, self.labels(split))
            return out

        return teacher.finetune_all(hp, self.seed, self.encoded("train"), list(self.labels("train")),
                                    self.task.num_labels, self.path("teacher"), score, self.device)

    def step_embedding(self) -> dict:
        """The shared table (built once, reused by every task) and this run's start values for
        the position and token-type tables, projected with the same low-rank basis."""
        if (taken := reuse.report_for("embedding", self.cfg, self.out, self.model_cfg.embed_dim)) is not None:
            return taken
        e = self.cfg["embedding"]
        tables = teacher.pretrained_embeddings()
        _, basis = low_rank_basis(tables["word"], self.model_cfg.embed_dim)
        path = self.embedding_path()
        if path.is_file():
            table, sha, built = load_table(path), None, False
        else:
            encoder = teacher.load_pretrained_teacher(2).bert if e.get("source") == "static" else None
            table = make_table(e.get("source", "svd"), tables["word"], self.model_cfg.embed_dim, e["sparsity"], encoder)
            sha, built = save_table(table, path), True
        pos, typ = tables["position"], tables["type"]
        torch.save({"position": (pos - pos.mean(0)) @ basis, "type": (typ - typ.mean(0)) @ basis},
                   self.path("embedding_init.pt"))
        return {"path": e["path"], "built_here": built, "sha256": sha,
                "shape": list(table.shape), "sparsity": float((table == 0).float().mean())}

    def step_general(self) -> dict:
        """General distillation on unlabelled whole sentences (config `stages.general`) against
        the pre-trained, not fine-tuned, teacher; stage 1 starts from its result."""
        hp = self.cfg["stages"].get("general")
        if not hp:
            return {"skipped": "no stages.general in the config"}
        texts, counts = corpus.general_texts(hp, self.task.folder, self.data["train"], self.glue_dir,
                                             self.dev_sentences(), self.seed)
        encoded = encode_examples([Example(t, None, 0) for t in texts], self.tok)
        model = self.new_model()
        if how := hp.get("init_from_teacher"):   # the pre-trained start, then general distillation
            pretrained.start_from_teacher(model, how)
        t_model = teacher.load_pretrained_teacher(self.task.num_labels)
        result = general(model, encoded, self.stage_hp("general"), t_model)
        save_checkpoint(model, self.path("general.safetensors"))
        return {"sentences": len(texts), **counts,
                "mean_tokens": float(np.mean([len(e) for e in encoded])), **result}

    def step_distill_data(self) -> dict:
        """Teacher logits for the training split, the validation split and augmented samples."""
        if (taken := reuse.report_for("distill_data", self.cfg, self.out, self.model_cfg.embed_dim)) is not None:
            return taken
        model = teacher.load_finetuned(self.path("teacher"), self.device)
        n_aug = self.cfg["augment"]["samples"]
        aug = Augmenter(self.data["train"], self.seed, **self.cfg["augment"].get("options", {}))
        samples = aug.generate(n_aug)
        self._write_samples(samples, "augmented.jsonl")
        out = {}
        for name, enc in (("train", self.encoded("train")), ("val", self.encoded("val")),
                          ("augmented", encode_examples(samples, self.tok))):
            out[name] = teacher.logits(model, enc, desc=f"teacher logits {name}")
        np.savez(self.path("teacher_logits.npz"), **out)
        agree = float((out["val"].argmax(1) == self.labels("val")).mean())
        return {"augmented_samples": n_aug, "teacher_val_accuracy": agree}

    def step_sentence_data(self) -> dict:
        """Teacher-labelled variants of the long training sentences (config `augment.sentences`):
        the distillation set above is dominated by short phrases, GLUE dev by whole sentences."""
        spec = self.cfg["augment"].get("sentences")
        if not spec:
            return {"skipped": "no augment.sentences in the config"}
        model = teacher.load_finetuned(self.path("teacher"), self.device)
        samples = Augmenter(self.data["train"], self.seed + 1, **spec.get("options", {})).generate(spec["samples"])
        self._write_samples(samples, "augmented_sentences.jsonl")
        enc = encode_examples(samples, self.tok)
        z = teacher.logits(model, enc, desc="teacher logits sentences")
        np.savez(self.path("teacher_logits_sentences.npz"), augmented=z)
        return {"samples": len(samples), "mean_tokens": float(np.mean([len(e) for e in enc]))}

    def step_corpus_data(self) -> dict:
        """Teacher logits for unlabelled in-domain sentences (config `distill.corpus`), cached in
        resumable chunks under `corpus_logits/` (`edgebert.train.corpus`)."""
        spec = self.cfg.get("distill", {}).get("corpus")
        if not spec:
            return {"skipped": "no distill.corpus in the config"}
        return corpus.prepare(spec, self.seed, self.glue_dir, self.dev_sentences(), self.path("corpus_logits"),
                              self.path("teacher"), self.tok, self.device)

    def dev_sentences(self) -> list[str]:
        """What the corpus samples must not contain (`corpus.LeakGuard`)."""
        return [t for e in read_examples(self.task, "dev") for t in (e.text_a, e.text_b) if t]

    def _write_samples(self, samples: list[Example], name: str) -> None:
        with open(self.path(name), "w") as f:
            for s in samples:
                f.write(json.dumps({"a": s.text_a, "b": s.text_b}) + "\n")

    def _read_samples(self, name: str) -> list[Example]:
        return [Example(a["a"], a["b"], -1) for a in map(json.loads, open(self.path(name)))]

    def _distill_set(self, stage: str):
        """Training split plus, as the stage asks, the augmented and the sentence samples."""
        hp = self.cfg["stages"][stage]
        z = np.load(self.path("teacher_logits.npz"))
        enc, logits, labels = list(self.encoded("train")), [z["train"]], [self.labels("train")]
        extra = []
        if hp.get("augmented", True):
            extra.append((self._read_samples("augmented.jsonl"), z["augmented"]))
        if hp.get("sentences", False):
            extra.append((self._read_samples("augmented_sentences.jsonl"),
                          np.load(self.path("teacher_logits_sentences.npz"))["augmented"]))
        for samples, zs in extra:
            enc += encode_examples(samples, self.tok)
            logits.append(zs)
            labels.append(-np.ones(len(samples), dtype=np.int64))
        return enc, np.concatenate(logits), np.concatenate(labels)

    def _validator(self, model, score: str):
        val_enc, val_y = self.encoded("val"), self.labels("val")
        dev_enc, dev_y = self.encoded("dev"), self.labels("dev")
        long = np.array([len(e) >= LONG_TOKENS for e in val_enc])

        def validate():
            logits = ev.all_layer_logits(model, val_enc)
            acc = ev.per_layer_accuracy(logits, val_y)
            s = acc[-1] if score == "final" else float(np.mean(acc[:-1]))
            long_acc = float((logits[long, -1].argmax(-1) == val_y[long]).mean()) if long.any() else None
            # Dev accuracy is logged to show the curve; nothing is selected by it.
            dev_acc = ev.per_layer_accuracy(ev.all_layer_logits(model, dev_enc), dev_y)[-1]
            return {"val_score": s, "val_accuracy_final": acc[-1],
                    "val_accuracy_long": long_acc, "val_accuracy_layer1": acc[0],
                    "dev_accuracy_final": dev_acc, "spans": model.spans()}

        def observed():
            result = validate()
            if self.cfg.get("screen"):     # a search trial: this model on the board, for the scheduler
                result["screen"] = self._screen(model)
            if self.observer:
                self.observer(result)
            return result
        return observed

    def step_stage1(self) -> dict:
        if "stage1" not in self.cfg["stages"]:
            if not self.cfg["stages"].get("stage2", {}).get("init_from"):
                raise ValueError("the config has no stages.stage1 and no stages.stage2.init_from: "
                                 "stage 2 has nothing to start from")
            return {"skipped": "no stages.stage1: stage 2 starts from stages.stage2.init_from"}
        if self.cfg["stages"].get("stage2", {}).get("init_from"):
            raise ValueError("stages.stage1 and stages.stage2.init_from both give stage 2 its "
                             "start point; keep one")
        model = self.new_model()
        init = self.cfg["stages"]["stage1"].get("init_from")
        general_on = bool(self.cfg["stages"].get("general"))
        if init and general_on:
            raise ValueError("stages.stage1.init_from and stages.general both set a start point; keep one")
        start = REPO_ROOT / init if init else self.path("general.safetensors") if general_on else None
        if start:   # another task's encoder (intermediate-task transfer) or general distillation
            if not start.is_file():
                raise FileNotFoundError(f"stage 1 starts from {start}, which does not exist yet: "
                                        "run the step or the run that writes it first")
            from safetensors.torch import load_file
            model.load_state_dict(load_file(str(start)), strict=True)
        if how := self.cfg["stages"]["stage1"].get("init_from_teacher"):   # edgebert.train.pretrained
            if start:
                raise ValueError("stages.stage1.init_from_teacher and another start point are both set; keep one")
            pretrained.start_from_teacher(model, how)
        enc, z, y = self._distill_set("stage1")
        hp = self.stage_hp("stage1")
        t_model = teacher.load_finetuned(self.path("teacher"), self.device) if hp.get("hidden_weight") else None
        spec = self.cfg.get("distill", {}).get("corpus")
        mixed = (corpus.load(self.path("corpus_logits"), self.tok, spec.get("mix", 0.5))
                 if spec else None)
        result = stage1(model, enc, z, y, hp, self._validator(model, "final"), t_model, mixed)
        save_checkpoint(model, self.path("stage1.safetensors"))
        return result

    def step_screen(self) -> dict:
        """The stage-1 model on a board, for the configuration search (edgebert.train.screen)."""
        return self._screen(self._load("stage1.safetensors")) if self.cfg.get("screen") else \
            {"skipped": "no screen in the config"}

    def _screen(self, model: EdgeBert) -> dict:
        return screen(model, self.cfg["screen"], self.encoded("val"), self.labels("val"), self.encoded("dev"),
                      self.labels("dev"), "f1" in self.task.metrics)

    def step_sentence_tuning(self) -> dict:
        """Stage 1 continued on sentences drawn by length (`stages.sentence_tuning`), pruning held."""
        if "sentence_tuning" not in self.cfg["stages"]:
            return {"skipped": "no stages.sentence_tuning in the config"}
        model = self._load("stage1.safetensors")
        enc, z, y = self._distill_set("sentence_tuning")
        hp = self.stage_hp("sentence_tuning", hold_zeros=True)
        result = stage1(model, enc, z, y, hp, self._validator(model, "final"))
        save_checkpoint(model, self.path("sentence_tuning.safetensors"))
        return result

    def _backbone(self) -> Path:
        """The checkpoint stage 2 starts from: `stages.stage2.init_from` (a packaged model's
        weights, whose off-ramps stage 2 trains again), else the last backbone step the config
        has."""
        init = self.cfg["stages"].get("stage2", {}).get("init_from")
        if init:
            path = REPO_ROOT / init
            if not path.is_file():
                raise FileNotFoundError(f"stages.stage2.init_from names {path}, which does not exist")
            return path
        return self.path("sentence_tuning.safetensors" if "sentence_tuning" in self.cfg["stages"]
                         else "stage1.safetensors")

    def _load(self, name: str) -> EdgeBert:
        return load_checkpoint(self.path(name), self.model_cfg, load_table(self.embedding_path()))

    def step_stage2(self) -> dict:
        if "stage2" not in self.cfg["stages"]:
            return {"skipped": "no stages.stage2 in the config"}
        start = self._backbone()
        start_sha = sha256_file(start)   # recorded: a packaged start point is overwritten later
        model = load_checkpoint(start, self.model_cfg, load_table(self.embedding_path()))
        enc, z, y = self._distill_set("stage2")
        hp = self.stage_hp("stage2")
        result = stage2(model, enc, z, y, hp, self._validator(model, "ramps"))
        save_checkpoint(model, self.path("stage2.safetensors"))
        return {"start": {"path": str(start.relative_to(REPO_ROOT) if start.is_relative_to(REPO_ROOT)
                                      else start), "sha256": start_sha}, **result}

    def _has_stage2(self) -> bool:
        return "stage2" in self.cfg["stages"] or self.path("stage2.safetensors").is_file()

    def _final(self) -> EdgeBert:
        """The model that ships: after QAT (with its hooks on) when the config has a QAT stage."""
        if "qat" not in self.cfg["stages"]:
            return self._load("stage2.safetensors")
        model = self._load("qat.safetensors")
        model.set_hooks(FakeQuantHooks(self._formats()))
        return model

    def _formats(self) -> dict:
        return json.loads(self.path("formats.json").read_text())

    def step_qat(self) -> dict:
        """Activation formats from the float model's ranges, then QAT with those formats frozen."""
        if "qat" not in self.cfg["stages"]:
            return {"skipped": "no qat stage in the config"}
        hp = self.stage_hp("qat")
        model = self._load("stage2.safetensors")
        rng = random.Random(self.seed)
        train = self.encoded("train")
        sample = [train[i] for i in rng.sample(range(len(train)), min(hp.get("calibration_sentences", 4000), len(train)))]
        formats = calibrate_formats(model, sample, hp.get("headroom", 1.5))
        self.path("formats.json").write_text(json.dumps(formats, indent=1))
        model.set_hooks(FakeQuantHooks(formats))
        before = self._validator(model, "final")()
        enc, z, y = self._distill_set("qat")
        result = qat(model, enc, z, y, hp, self._validator(model, "final"))
        save_checkpoint(model, self.path("qat.safetensors"))
        return {"formats": formats, "before": before, **result}

    def step_calibrate(self) -> dict:
        """Threshold on the validation split; both exit predictors (edgebert.train.predictor)."""
        if not self._has_stage2():
            return {"skipped": "no stage 2 in the config or the run: no off-ramps to calibrate"}
        model = self._final()
        x = self.cfg["exit"]
        val_y, cal, extra = self.labels("val"), self.cfg.get("calibrate"), {}
        if cal is None:   # configs before off-ramp calibration: the accuracy-only rule
            val_logits = ev.all_layer_logits(model, self.encoded("val"))
            threshold = ev.choose_threshold(val_logits, val_y, x["max_accuracy_drop"])
        else:   # temperatures folded into `model`, so the predictor table below sees them too
            extra = calibration.calibrate_exit(
                model, lambda m: ev.all_layer_logits(m, self.encoded("val")), val_y, cal,
                with_f1="f1" in self.task.metrics)
            val_logits, threshold = extra.pop("val_logits"), extra.pop("threshold")
        rng = random.Random(self.seed)
        train = self.data["train"]
        sample = rng.sample(range(len(train)), min(x["predictor_train_sentences"], len(train)))
        table, binned, predictors = fit_predictors(
            model, encode_examples([train[i] for i in sample], self.tok), self.encoded("val"), val_y,
            threshold, seed=self.seed)
        np.save(self.path("predictor_table.npy"), table)
        self.path("binned_predictor.json").write_text(json.dumps(binned.to_dict()))
        return {"threshold": threshold, **extra, "predictors": predictors,
                "val": ev.early_exit_metrics(val_logits, val_y, threshold,
                                             with_f1="f1" in self.task.metrics),
                "val_accuracy_all_layers": ev.per_layer_accuracy(val_logits, val_y)[-1]}

    def step_package(self) -> dict:
        if "package_dir" not in self.cfg or not self._has_stage2():
            return {"skipped": "no package_dir, or no stage 2 in the config or the run"}
        model = self._final()
        cal = json.loads(self.path("reports/calibrate.json").read_text())
        temps = cal.get("temperatures")
        if temps:   # folded into the off-ramp classifiers: the export and hardware are unchanged
            calibration.fold_temperatures(model, temps)
        stored_sparse = PRUNABLE + ramp_poolers(model.cfg.layers)
        tensors = {n: t for n, t in model.task_state().items() if n in stored_sparse}
        teacher_report = json.loads(self.path("reports/teacher.json").read_text())
        extra = {"sparsity": sparsity_report(tensors),
                 "embedding_sparsity": float((model.word_embeddings == 0).float().mean()),
                 "removable_heads": removable_heads(model.layer.spans),
                 "teacher": {k: v for k, v in teacher_report.items() if k.startswith(("dev_", "ensemble_dev_"))},
                 "training": {"config": self.cfg}}
        if model.hooks.active:
            extra["formats"] = model.hooks.formats
        if temps:
            extra["off_ramp_temperatures"] = {"values": temps,
                                              "folded_into": "ramps.<i>.classifier"}
        model_dir = REPO_ROOT / self.cfg["package_dir"]
        shared = model_dir / EMBEDDING_FILE
        if not shared.is_file():   # a model folder of its own (an experiment): the same table
            model_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.embedding_path(), shared)
        binned = Binned.from_dict(json.loads(self.path("binned_predictor.json").read_text()))
        task_dir = save_task(model, self.task.name, model_dir, cal["threshold"],
                             np.load(self.path("predictor_table.npy")), extra, binned)
        return {"task_dir": str(task_dir.relative_to(REPO_ROOT)), "threshold": cal["threshold"]}

    def step_export(self) -> dict:
        """The accelerator artifact of every task packaged in this model folder."""
        if "package_dir" not in self.cfg:
            return {"skipped": "no package_dir in the config"}
        model_dir = REPO_ROOT / self.cfg["package_dir"]
        return export_model_dir(model_dir)


def run_pipeline(cfg: dict, out: Path, glue_dir: Path | None = None, steps=STEPS,
                 force: bool = False, observer=None) -> dict:
    torch.set_num_threads(cfg.get("threads", torch.get_num_threads()))
    run = Run(cfg, out, glue_dir, observer)
    (run.out / "reports").mkdir(parents=True, exist_ok=True)
    (run.out / "config.json").write_text(json.dumps(cfg, indent=2))
    summary = {}
    for name in steps:
        if name not in STEPS:
            raise ValueError(f"unknown step {name!r}; steps are {', '.join(STEPS)}")
        report = run.path(f"reports/{name}.json")
        if report.is_file() and not force:
            summary[name] = json.loads(report.read_text())
            continue
        t0 = time.time()
        result = getattr(run, f"step_{name}")()
        result.update(step_wall_s=round(time.time() - t0, 1), device=str(run.device))
        report.write_text(json.dumps(result, indent=2))
        summary[name] = result
    (run.out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
