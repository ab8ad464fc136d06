"""Plots of a characterization sweep (matplotlib, no display): each operator's share against
sequence length, the roofline of the MAC array, and the PyTorch CPU shares."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from edgebert.accel.cost import GEMM_OPERATORS, OPERATORS  # noqa: E402
from edgebert.characterize.operators import roof  # noqa: E402

COLORS = dict(zip(OPERATORS + ("other",), plt.get_cmap("tab20").colors))


def shares(out: Path, rows: list[dict], config: str) -> Path:
    """Share of the sentence's cycles (top) and energy (bottom) per operator against length,
    one column per array size."""
    arrays = sorted({r["n"] for r in rows if r["config"] == config})
    fig, axes = plt.subplots(2, len(arrays), figsize=(4.2 * len(arrays), 7), squeeze=False, sharey=True)
    for j, n in enumerate(arrays):
        sel = sorted((r for r in rows if r["config"] == config and r["n"] == n), key=lambda r: r["seq"])
        seqs = [r["seq"] for r in sel]
        for i, metric in enumerate(("cycles", "energy_uj")):
            ax = axes[i][j]
            stack = [[r["sentence"][metric][op] / sum(r["sentence"][metric].values()) for r in sel] for op in OPERATORS]
            ax.stackplot(seqs, stack, labels=OPERATORS, colors=[COLORS[op] for op in OPERATORS])
            ax.set_xscale("log", base=2)
            ax.set_xticks(seqs, [str(s) for s in seqs])
            ax.set_title(f"{config}, n = {n}: share of {'cycles' if i == 0 else 'energy'}", fontsize=9)
            ax.set_xlabel("tokens")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.0), fontsize=7)
    fig.tight_layout()
    path = out / f"shares_{config}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def roofline(out: Path, rows: list[dict], seq: int = 128) -> Path:
    """MACs per cycle against MACs per byte for the MAC operators of a sentence at `seq` tokens,
    under the roofs min(n^2, I x 4n) of each array size."""
    arrays = sorted({r["n"] for r in rows})
    fig, axes = plt.subplots(1, len(arrays), figsize=(4.5 * len(arrays), 4), squeeze=False)
    markers = {"tiny": "o", "edge": "s", "paper": "^"}
    for ax, n in zip(axes[0], arrays):
        rf = roof(n)
        xs = [2 ** (k / 4) for k in range(-16, 17)]
        ax.plot(xs, [min(rf["peak_macs_per_cycle"], x * rf["buffer_bytes_per_cycle"]) for x in xs], "k-", lw=1)
        ax.axvline(rf["ridge_macs_per_byte"], color="0.6", ls=":", lw=1)
        labelled = set()
        for r in rows:
            if r["n"] != n or r["seq"] != seq:
                continue
            s = r["sentence"]
            for op in GEMM_OPERATORS + ("offramp",):
                if s["intensity"][op]:
                    ax.scatter(s["intensity"][op], s["macs_per_cycle"][op], color=COLORS[op],
                               marker=markers.get(r["config"], "x"), s=30, label=None if op in labelled else op)
                    labelled.add(op)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_title(f"n = {n}: peak {rf['peak_macs_per_cycle']} MACs/cycle, "
                     f"buffers {rf['buffer_bytes_per_cycle']} B/cycle", fontsize=9)
        ax.set_xlabel("MACs per byte of on-chip traffic")
        ax.set_ylabel("MACs per cycle")
    axes[0][-1].legend(fontsize=7, title=f"{seq} tokens; o tiny, s edge, ^ paper", title_fontsize=7)
    fig.tight_layout()
    path = out / "roofline.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def torch_shares(out: Path, profiles: list[dict]) -> Path:
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(profiles) + 2), 4.5))
    names = OPERATORS + ("other",)
    labels = [f"{p['config']}\n{p['seq']}" for p in profiles]
    bottom = [0.0] * len(profiles)
    for op in names:
        vals = [p["torch_cpu"].get(op, 0.0) for p in profiles]
        ax.bar(labels, vals, bottom=bottom, color=COLORS[op], label=op)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("share of CPU forward time (measured)")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    fig.tight_layout()
    path = out / "torch_cpu_shares.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_all(out: Path, rows: list[dict], profiles: list[dict]) -> list[Path]:
    paths = [shares(out, rows, c) for c in dict.fromkeys(r["config"] for r in rows)]
    seq = 128 if any(r["seq"] == 128 for r in rows) else rows[0]["seq"]
    paths.append(roofline(out, rows, seq))
    if profiles:
        paths.append(torch_shares(out, profiles))
    return paths
