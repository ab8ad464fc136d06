"""Steps taken over from another run folder (config `teacher_from`): its fine-tuned teacher, its
teacher logits and augmented samples, and its embedding start values. Runs that differ only in
the student (the configuration search's trials) then share one teacher instead of each
fine-tuning its own. The files are linked, not copied, and each step's report names its source.

What the reused files depend on must agree, or the logits would belong to other sentences: the
task, the seed and the validation split (which training examples are held out), the augmentation
(which samples were drawn), and for the embedding the table and its width."""
from __future__ import annotations

import json
import os
from pathlib import Path

from edgebert.core.config import load_model_config
from edgebert.core.paths import REPO_ROOT

AGREE = {"teacher": ("task", "seed", "validation_size", "validation_split", "teacher"),
         "distill_data": ("task", "seed", "validation_size", "validation_split", "augment"),
         "embedding": ("embedding",)}
FILES = {"teacher": ("teacher",), "distill_data": ("teacher_logits.npz", "augmented.jsonl"),
         "embedding": ("embedding_init.pt",)}


def source_config(src: Path) -> dict:
    path = Path(src) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"teacher_from names {src}, which holds no run (no config.json)")
    return json.loads(path.read_text())


def disagreements(step: str, cfg: dict, src_cfg: dict, embed_dim: int | None = None,
                  src_embed_dim: int | None = None) -> list[str]:
    """The settings of `step` in which this run and the source run differ."""
    out = [k for k in AGREE[step] if cfg.get(k) != src_cfg.get(k)]
    if step == "embedding" and embed_dim != src_embed_dim:
        out.append(f"embedding width ({embed_dim} against {src_embed_dim})")
    return out


def take_over(step: str, out: Path, src: Path) -> dict:
    """Links the files of `step` from run folder `src` into `out`; returns the step's report:
    the source's, with the source named."""
    src = Path(src).resolve()
    report = src / "reports" / f"{step}.json"
    missing = [name for name in FILES[step] if not (src / name).exists()]
    if not report.is_file() or missing:
        raise FileNotFoundError(f"teacher_from: {src} has not finished step {step!r} "
                                f"(missing: {', '.join(missing) or report.name}); run it there first")
    for name in FILES[step]:
        link = Path(out) / name
        if link.is_symlink() or link.exists():
            if link.resolve() == (src / name).resolve():
                continue
            raise FileExistsError(f"{link} exists and is not {src / name}: remove it, or run in a fresh folder")
        os.symlink(src / name, link)
    return {**json.loads(report.read_text()), "taken_from": str(src)}


def report_for(step: str, cfg: dict, out: Path, embed_dim: int) -> dict | None:
    """`step`'s report when the run's config takes it over from another run (`teacher_from`),
    else None. An embedding of another width is the run's own to build; any other disagreement
    is an error."""
    if not cfg.get("teacher_from"):
        return None
    src = REPO_ROOT / cfg["teacher_from"]
    src_cfg = source_config(src)
    dims = (embed_dim, load_model_config(src_cfg["model"]).embed_dim) if step == "embedding" else (None, None)
    differ = disagreements(step, cfg, src_cfg, *dims)
    if differ and step == "embedding":
        return None
    if differ:
        raise ValueError(f"teacher_from {src}: its {step} step cannot be reused, the runs differ in "
                         f"{', '.join(differ)}")
    return take_over(step, out, src)
