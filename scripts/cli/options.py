"""What the commands share: option decorators, the inputs a command names (artifact, labelled
sentences, backend) and how a summary is printed."""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np


def json_option(help: str | None = None):
    return click.option("--json", "as_json", is_flag=True, help=help)


def task_option(required: bool = True, help: str | None = "GLUE task: sst2 or mrpc.", **kw):
    if not required:
        kw.setdefault("default", "sst2")
        kw.setdefault("show_default", True)
    return click.option("--task", required=required, help=help, **kw)


def shipped_model(_ctx, _param, value: str | None) -> str | None:
    """`--model NAME` (a model shipped under models/, as `tiny` or `edge`) or `--model-dir DIR`:
    one option, two spellings. A bare name that is no folder here is looked up under models/."""
    if value is None or Path(value).is_dir() or "/" in value:
        return value
    from edgebert.core.paths import REPO_ROOT
    shipped = REPO_ROOT / "models" / value
    if not shipped.is_dir():
        names = sorted(p.name for p in (REPO_ROOT / "models").iterdir() if p.is_dir() and p.name[0].isalnum())
        raise click.BadParameter(f"{value!r} is neither a folder nor a shipped model (models/: {', '.join(names)})")
    return str(shipped)


def model_dir_option(help: str | None = "Model package: a shipped model by name (--model edge) or a "
                                        "folder (--model-dir DIR); default models/tiny.", **kw):
    return click.option("--model-dir", "--model", "model_dir", default=None, callback=shipped_model, help=help, **kw)


def board_option(help: str, **kw):
    return click.option("--board", help=help, **kw)


def policy_option(choices=None, default: str = "lai", help: str | None = None):
    """--policy, one of the runtime's policies (edgebert.runtime.policy.POLICIES) unless `choices`."""
    from edgebert.runtime.policy import POLICIES
    return click.option("--policy", type=click.Choice(list(choices or POLICIES)), default=default, show_default=True,
                        help=help)


def target_option(help: str = "Per-sentence latency target (default: the board's, docs/host.md)."):
    return click.option("--latency-target-ms", "target_ms", type=float, default=None, help=help)


def emit(obj: dict, as_json: bool) -> None:
    """Human-readable lines, and with --json the summary as the last line."""
    if as_json:
        click.echo(json.dumps(obj))
    else:
        for k, v in obj.items():
            click.echo(f"{k:>28}: {v}")


def load_hw(task: str, model_dir: str | None = None):
    """One task of the accelerator artifact in `model_dir` (default models/tiny)."""
    from edgebert.accel.artifact import load_artifact
    from edgebert.accel.checksum import artifact_dir
    return load_artifact(artifact_dir(model_dir), [task])[task]


def labelled(task_name: str, split: str, glue_dir: str | None, limit: int | None, cfg):
    """A task's labelled split, encoded for the model config `cfg`, and its labels."""
    from edgebert.core.tasks import encode_examples, get_task, read_examples
    from edgebert.core.tokenization import Tokenizer
    task = get_task(task_name)
    examples = read_examples(task, split, Path(glue_dir) if glue_dir else None)[:limit]
    return task, encode_examples(examples, Tokenizer(cfg.max_len)), np.array([e.label for e in examples])


def make_backend(name: str, board, overlay: str | None):
    if name == "csim":
        from edgebert.sim.backend import CSimBackend
        return CSimBackend(board)
    if name == "golden":                       # the CPU baseline: the golden model on the host's cores
        from edgebert.runtime.golden_backend import GoldenBackend
        return GoldenBackend(board)
    if not overlay:
        raise click.BadParameter("--backend pynq needs --overlay BITSTREAM.bit", param_hint="--overlay")
    from edgebert.runtime.pynq_backend import PynqBackend
    return PynqBackend(board, overlay)
