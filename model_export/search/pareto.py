"""The Pareto front of the finished trials (accuracy up; p99 latency and energy down) and its plot."""
from __future__ import annotations

from pathlib import Path


def dominates(a: dict, b: dict) -> bool:
    """`a` is at least as good as `b` in every objective and better in one."""
    ge = a["accuracy"] >= b["accuracy"] and a["latency_ms"] <= b["latency_ms"] and a["energy_uj"] <= b["energy_uj"]
    gt = a["accuracy"] > b["accuracy"] or a["latency_ms"] < b["latency_ms"] or a["energy_uj"] < b["energy_uj"]
    return ge and gt


def front(points: list[dict]) -> list[dict]:
    """The points no other point dominates, by accuracy (highest first)."""
    kept = [p for p in points if not any(dominates(q, p) for q in points if q is not p)]
    return sorted(kept, key=lambda p: (-p["accuracy"], p["latency_ms"]))


def best(points: list[dict]) -> dict | None:
    """The front's most accurate point (the lower energy on a tie)."""
    return min(points, key=lambda p: (-p["accuracy"], p["energy_uj"]), default=None)


def plot(results: list[dict], on_front: list[dict], path: Path, board: str, target_ms: float,
         shipped: dict | None = None) -> None:
    """Accuracy against p99 latency, coloured by energy; the front ringed, the target dashed, the
    shipped model marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if results:
        sc = ax.scatter([r["latency_ms"] for r in results], [100 * r["accuracy"] for r in results],
                        c=[r["energy_uj"] for r in results], cmap="viridis", s=36, zorder=3)
        fig.colorbar(sc, ax=ax, label="12 nm energy per sentence (uJ, nominal point)")
    if on_front:
        ax.scatter([r["latency_ms"] for r in on_front], [100 * r["accuracy"] for r in on_front], s=120,
                   facecolors="none", edgecolors="crimson", label="Pareto front", zorder=4)
    ax.axvline(target_ms, color="grey", ls="--", lw=1, label=f"target {target_ms:g} ms")
    if shipped:
        ax.scatter([shipped["latency_ms"]], [100 * shipped["accuracy"]], marker="*", s=160, color="black",
                   label=f"shipped {shipped['model']} ({shipped['accuracy_source']})", zorder=5)
    ax.set_xscale("log")
    ax.set_xlabel(f"p99 dev latency on {board} at its top clock (ms, cycle model, log scale)")
    ax.set_ylabel("validation accuracy, early exit (%)")
    ax.set_title(f"Configuration search on {board}")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
