"""Operator characterization: edgebert characterize."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click

from edgebert.cli.options import emit, json_option


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}", param_hint=name) from None
    if not values or min(values) <= 0:
        raise click.BadParameter("expected positive integers", param_hint=name)
    return values


@click.command("characterize")
@click.option("--configs", default="tiny,edge,paper", show_default=True, help="Model configs, comma-separated.")
@click.option("--seq", default="32,64,128,256,512", show_default=True,
              help="Sequence lengths; those beyond a config's max_len are analytic only.")
@click.option("--n", "arrays", default="8,16,32", show_default=True, help="MAC array sizes n (n x n).")
@click.option("--out", default="reports/characterize", show_default=True, help="Folder for the JSON and the plots.")
@click.option("--no-torch", is_flag=True, help="Skip the PyTorch CPU profile.")
@click.option("--threads", default=1, show_default=True,
              help="PyTorch intra-op threads (a second thread on a busy 2-core machine mostly waits).")
@click.option("--update-doc", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Rewrite the generated sections of docs/characterization.md.")
@json_option("One JSON line per row, then the summary as the last line.")
def characterize(configs, seq, arrays, out, no_torch, threads, update_doc, as_json):
    """Per operator cycles, MACs, SFU elements, on-chip traffic, intensity and 12 nm energy of the
    accelerator (cycle model), and the PyTorch CPU time shares of the same model."""
    from edgebert.characterize.operators import roof, sweep
    from edgebert.characterize.report import TORCH_SECTION, doc_sections, row_line, torch_table, write
    from edgebert.core.config import load_model_config
    start = time.perf_counter()
    names = tuple(c.strip() for c in configs.split(",") if c.strip())
    for name in names:
        load_model_config(name)                                   # an unknown name fails here, with the list
    seqs, ns = _ints(seq, "--seq"), _ints(arrays, "--n")
    rows = sweep(names, seqs, ns)
    for row in rows:
        line = row_line(row)
        click.echo(json.dumps(line) if as_json else
                   " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in line.items()
                            if not isinstance(v, dict)))
    profiles = []
    if not no_torch:
        from edgebert.characterize.profile import profile
        for name in names:
            for s in seqs:
                p = profile(name, s, threads=threads)
                profiles.append(p)
                shares = {k: round(v, 4) for k, v in p["torch_cpu"].items()}
                line = {"config": name, "seq": s, "ms_per_forward": round(p["ms_per_forward"], 2),
                        "gemm_share_time": round(p["gemm_share_time"], 4), "torch_cpu": shares}
                click.echo(json.dumps(line) if as_json else
                           f"torch_cpu config={name} seq={s} ms={line['ms_per_forward']} "
                           f"gemm={line['gemm_share_time']} " + " ".join(f"{k}={v}" for k, v in shares.items()))
    files = write(Path(out), rows, profiles)
    if update_doc:
        from edgebert.core.docgen import replace_sections
        sections = doc_sections()
        if profiles:
            sections[TORCH_SECTION] = torch_table(profiles)
        path = Path(update_doc)
        path.write_text(replace_sections(path.read_text(), sections))
    summary = {"configs": list(names), "seq": list(seqs), "n": list(ns), "rows": len(rows),
               "roof": [roof(n) for n in ns],
               "gemm_share": {f"{r['config']}/{r['seq']}/{r['n']}": [round(r["gemm_share_cycles"], 4),
                                                                     round(r["gemm_share_energy"], 4)] for r in rows},
               "torch_cpu": {f"{p['config']}/{p['seq']}": {k: round(v, 4) for k, v in p["torch_cpu"].items()}
                             for p in profiles},
               "files": files, "seconds": round(time.perf_counter() - start, 2)}
    emit(summary, as_json)


COMMANDS = (characterize,)
