"""What `edgebert characterize` writes: the JSON of a sweep, its plots, and the generated tables of
docs/characterization.md (the analytic ones are checked by a test; the PyTorch one is measured)."""
from __future__ import annotations

import json
from pathlib import Path

from edgebert.accel import cost
from edgebert.accel.cost import GEMM_OPERATORS, OPERATORS
from edgebert.characterize.operators import ARRAYS, CONFIGS, SEQS, roof, sweep
from edgebert.core.docgen import markdown

DOC_N = 16                      # the array of the ZU+ builds and of EdgeBERT's layer figure
DOC_TRAFFIC = (("tiny", 128), ("paper", 128), ("paper", 512))
TORCH_SECTION = "characterize-torch"


def row_line(row: dict) -> dict:
    """What the command prints for one (config, length, n): the sentence's per operator values."""
    s = row["sentence"]
    return {"config": row["config"], "seq": row["seq"], "n": row["n"], "analytic_only": row["analytic_only"],
            "gemm_share_cycles": round(row["gemm_share_cycles"], 6),
            "gemm_share_energy": round(row["gemm_share_energy"], 6),
            "layer_gemm_share_cycles": round(row["layer"]["gemm_share_cycles"], 6), "top_non_gemm": row["top_non_gemm"],
            "cycles": s["cycles"], "energy_uj": {k: round(v, 6) for k, v in s["energy_uj"].items()},
            "read_bytes": s["read_bytes"], "write_bytes": s["write_bytes"],
            "intensity": {k: None if v is None else round(v, 4) for k, v in s["intensity"].items()}}


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def summary_table(rows: list[dict]) -> str:
    cols = ["config", "tokens", "n", "GEMM share, cycles", "GEMM share, energy", "GEMM share, one layer (cycles)",
            "top non-GEMM (cycles)", "top non-GEMM (energy)", "cycles per sentence", "uJ per sentence"]
    out = [{"config": r["config"], "tokens": f"{r['seq']}{' *' if r['analytic_only'] else ''}", "n": r["n"],
            "GEMM share, cycles": _pct(r["gemm_share_cycles"]), "GEMM share, energy": _pct(r["gemm_share_energy"]),
            "GEMM share, one layer (cycles)": _pct(r["layer"]["gemm_share_cycles"]),
            "top non-GEMM (cycles)": r["top_non_gemm"], "top non-GEMM (energy)": r["sentence"]["top_non_gemm_energy"],
            "cycles per sentence": f"{r['sentence']['total_cycles']:,}",
            "uJ per sentence": f"{r['sentence']['total_energy_uj']:.2f}"} for r in rows]
    return markdown(out, cols)


def share_tables(rows: list[dict], metric: str, n: int = DOC_N) -> str:
    """Per config, each operator's share of the sentence's cycles or energy against length."""
    parts = []
    for config in dict.fromkeys(r["config"] for r in rows):
        sel = [r for r in rows if r["config"] == config and r["n"] == n]
        if not sel:
            continue
        cols = ["operator"] + [f"{r['seq']} tokens" for r in sel]
        body = []
        for op in OPERATORS:
            cells = {f"{r['seq']} tokens": _pct(r["sentence"][metric][op] / sum(r["sentence"][metric].values()))
                     for r in sel}
            body.append({"operator": op + (" (GEMM)" if op in GEMM_OPERATORS else ""), **cells})
        parts.append(f"**{config}**, n = {n}\n\n" + markdown(body, cols))
    return "\n".join(parts)


def traffic_tables(rows: list[dict], n: int = DOC_N, points=DOC_TRAFFIC) -> str:
    rf = roof(n)
    parts = []
    for config, seq in points:
        match = [r for r in rows if (r["config"], r["seq"], r["n"]) == (config, seq, n)]
        if not match:
            continue
        s = match[0]["sentence"]
        cols = ["operator", "cycles", "MACs", "SFU elements", "bytes read", "bytes written", "MACs per byte",
                "MACs per cycle", "roof, MACs per cycle", "SFU elements per cycle"]
        body = []
        for op in OPERATORS:
            i, macs, cyc, sfu = s["intensity"][op], s["macs"][op], s["cycles"][op], s["sfu"][op]
            attainable = min(rf["peak_macs_per_cycle"], i * rf["buffer_bytes_per_cycle"]) if macs else None
            body.append({"operator": op, "cycles": f"{cyc:,}", "MACs": f"{macs:,}", "SFU elements": f"{sfu:,}",
                         "bytes read": f"{s['read_bytes'][op]:,}", "bytes written": f"{s['write_bytes'][op]:,}",
                         "MACs per byte": "" if i is None else f"{i:.3g}",
                         "MACs per cycle": f"{macs / cyc:.1f}" if macs else "",
                         "roof, MACs per cycle": "" if attainable is None else f"{attainable:.1f}",
                         "SFU elements per cycle": f"{sfu / cyc:.2f}" if sfu and cyc else ""})
        parts.append(f"**{config}**, {seq} tokens, n = {n}, one sentence\n\n" + markdown(body, cols))
    return "\n".join(parts)


def sfu_table(rows: list[dict]) -> str:
    """Why the special-function unit limits long sentences: one softmax row against the array size,
    and each config's non-GEMM share of a layer's cycles."""
    configs = list(dict.fromkeys(r["config"] for r in rows))
    cols = ["n", "tokens", "softmax cycles per row", "of which divider", "SFU lanes busy"] + \
        [f"{c}: non-GEMM share of a layer" for c in configs]
    out = []
    for n in sorted({r["n"] for r in rows}):
        for s in sorted({r["seq"] for r in rows}):
            per_row = cost.softmax_cycles(1, s, n)
            line = {"n": n, "tokens": s, "softmax cycles per row": per_row,
                    "of which divider": _pct(cost.DIV_CYCLES / per_row), "SFU lanes busy": _pct(s / (n * per_row))}
            for r in rows:
                if (r["n"], r["seq"]) == (n, s):
                    line[f"{r['config']}: non-GEMM share of a layer"] = _pct(1 - r["layer"]["gemm_share_cycles"])
            out.append(line)
    return markdown(out, cols)


def roof_table(arrays=ARRAYS) -> str:
    cols = ["n", "peak_macs_per_cycle", "buffer_bytes_per_cycle", "ridge_macs_per_byte", "sfu_elements_per_cycle"]
    return markdown([roof(n) for n in arrays], cols)


def torch_table(profiles: list[dict]) -> str:
    cols = ["config", "tokens", "ms per forward", "GEMM share"] + [op for op in OPERATORS] + ["other"]
    out = []
    for p in profiles:
        out.append({"config": p["config"], "tokens": p["seq"], "ms per forward": f"{p['ms_per_forward']:.1f}",
                    "GEMM share": _pct(p["gemm_share_time"]),
                    **{op: _pct(p["torch_cpu"].get(op, 0.0)) for op in OPERATORS + ("other",)}})
    threads = profiles[0]["threads"] if profiles else 1
    return (f"Measured (PyTorch {_torch_version()}, float32, batch 1, {threads} thread(s)); not checked: it "
            "varies from run to run.\n\n" + markdown(out, cols))


def _torch_version() -> str:
    import torch
    return torch.__version__.split("+")[0]


def doc_sections(rows: list[dict] | None = None) -> dict[str, str]:
    """The analytic generated sections, from the full sweep (configs x lengths x arrays)."""
    rows = sweep(CONFIGS, SEQS, ARRAYS) if rows is None else rows
    return {"characterize-summary": summary_table(rows),
            "characterize-cycles": share_tables(rows, "cycles"),
            "characterize-energy": share_tables(rows, "energy_uj"),
            "characterize-traffic": traffic_tables(rows),
            "characterize-sfu": sfu_table(rows),
            "characterize-roof": roof_table()}


def write(out: Path, rows: list[dict], profiles: list[dict]) -> list[str]:
    """The JSON of the sweep and its plots under `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "characterize.json"
    path.write_text(json.dumps({"roof": [roof(n) for n in sorted({r['n'] for r in rows})], "rows": rows,
                                "torch_cpu": profiles}, indent=1))
    from edgebert.characterize.plots import plot_all
    return [str(path)] + [str(p) for p in plot_all(out, rows, profiles)]
