"""Plots of training and early-exit results (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_sweep(result: dict, path: Path) -> None:
    """Accuracy and average exit layer against the entropy threshold, plus per-layer accuracy."""
    pts = result["thresholds"]
    t = [p["threshold"] for p in pts]
    fig, (ax1, ax3) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(t, [100 * p["accuracy"] for p in pts], "o-", color="tab:blue", label="accuracy")
    ax1.set_xlabel("entropy threshold T (nats)")
    ax1.set_ylabel("accuracy (%)", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(t, [p["avg_exit_layer"] for p in pts], "s--", color="tab:red", label="average exit layer")
    ax2.set_ylabel("average exit layer", color="tab:red")
    if "shipped_threshold" in result:
        ax1.axvline(result["shipped_threshold"], color="grey", lw=0.8, ls=":")
    ax1.set_title(f"{result.get('task', '')} early exit")
    layers = range(1, len(result["per_layer_accuracy"]) + 1)
    ax3.bar(layers, [100 * a for a in result["per_layer_accuracy"]], color="tab:green")
    ax3.set_xlabel("off-ramp layer")
    ax3.set_ylabel("accuracy (%)")
    ax3.set_ylim(40, 100)
    ax3.set_title("per-layer off-ramp accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
