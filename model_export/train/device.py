"""Where training runs: a CUDA device when one is present, else the CPU (config `device`:
"auto", "cpu" or "cuda"; `edgebert train --device` overrides it).

Only the training stages and the teacher run on the device; models are saved, calibrated,
packaged and exported on the CPU, so the artifact is the same wherever it was trained. On a
GPU the results equal the CPU's up to floating-point noise and dropout's draws (the CUDA
generator is not the CPU's).
"""
from __future__ import annotations

import torch

CHOICES = ("auto", "cpu", "cuda")


def resolve(name: str | None = "auto") -> torch.device:
    name = name or "auto"
    if name not in CHOICES:
        raise ValueError(f"device {name!r}: use one of {', '.join(CHOICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but this torch sees no CUDA device "
                         f"(torch {torch.__version__}, built for CUDA: {torch.version.cuda or 'no'})")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def of(module: torch.nn.Module) -> torch.device:
    """The device a module's parameters live on."""
    return next(module.parameters()).device


def rng_state(device: torch.device) -> dict:
    """The random-number state a resumed run needs: the CPU's, and the device's when not the CPU."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state, device: torch.device) -> None:
    if isinstance(state, torch.Tensor):          # a checkpoint that saved the CPU's state alone
        state = {"cpu": state}
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
