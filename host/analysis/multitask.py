"""A multi-task run log (edgebert.runtime.multitask) through the 12 nm projection: each task's
accuracy, exit layer and energy, and what switching task costs beside the sentences.

A load is projected from the load command's counters at the nominal point (V0, f0):

    E_load = offchip_words * 32 * e_offchip_pj_per_bit + cycles * e_cycle_pj + P_leak * cycles / f0

The embedding table is placed in DDR by the host once (no accelerator command, no cycles); its
rows are read, and paid for, by each sentence's phase 1.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgebert.accel.asic12nm import EnergyParams
from edgebert.accel.builds import schedule_for
from edgebert.accel.energy import asic_deadline_ms, project
from edgebert.analysis.report import ReportError
from edgebert.core.tasks import get_task
from edgebert.runtime.boards import get_board
from edgebert.runtime.inputs import is_sentence
from edgebert.runtime.multitask import interleave
from edgebert.runtime.runner import log_header

WORD_BYTES = 4
RUN_LENGTHS = (1, 8, 64)          # the other interleavings the switches' share is re-projected for


def read_log(path: Path) -> tuple[dict, list[dict]]:
    """A multi-task log's header and its finished sentence records (a line cut short is left out)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    head = log_header(lines)
    if head is None or "tasks" not in head["run"]:
        raise ReportError(f"{path} is not a multi-task run log")
    records = []
    for line in lines[1:]:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return head["run"], [r for r in records if is_sentence(r)]


def load_energy_uj(p: EnergyParams, counters: dict, pj_per_bit: float | None = None) -> dict:
    """One load command at (V0, f0) by part (uJ); `pj_per_bit` replaces the eNVM read energy."""
    bit = p.e_offchip_pj_per_bit if pj_per_bit is None else pj_per_bit
    seconds = counters["cycles"] / (p.f0_mhz * 1e6)
    pj = {"memory": counters["offchip_words"] * 32 * bit, "overhead": counters["cycles"] * p.e_cycle_pj,
          "leakage": p.p_leak_mw * 1e-3 * seconds * 1e12}
    return {k: v * 1e-6 for k, v in pj.items()}


def _f1(pred: np.ndarray, labels: np.ndarray) -> float:
    tp = int(((pred == 1) & (labels == 1)).sum())
    wrong = int((pred != labels).sum())
    return 2 * tp / (2 * tp + wrong) if tp else 0.0


def _task_summary(name: str, records: list[dict], energies: list[float]) -> dict:
    labelled = [r for r in records if r.get("label") is not None]
    out = {"n": len(records),
           "accuracy": float(np.mean([r["correct"] for r in labelled])) if labelled else None,
           "avg_exit_layer": float(np.mean([r["exit_layer"] for r in records])) if records else 0.0,
           "energy_uj": float(np.mean(energies)) if energies else 0.0,
           "energy_uj_total": float(np.sum(energies))}
    if "f1" in get_task(name).metrics and labelled:
        out["f1"] = _f1(np.array([r["prediction"] for r in labelled]), np.array([r["label"] for r in labelled]))
    return out


def _loads(p: EnergyParams, records: list[dict]) -> tuple[dict, list[dict]]:
    """The first load (everything the accelerator needs) and each task switch after it."""
    dram = getattr(p, "e_dram_pj_per_bit", None)    # a design that reads weights from DRAM

    def cost(load: dict, kind: str, nbytes: int) -> dict:
        c = load.get("counters", {}).get(kind)
        parts = load_energy_uj(p, c) if c else None
        return {"bytes": nbytes, "words": nbytes // WORD_BYTES, "cycles": c["cycles"] if c else None,
                "asic_ms": c["cycles"] / (p.f0_mhz * 1e3) if c else None,
                # a load in a sentence's slack displaces idle time that sentence is charged for
                "idle_overlap_uj": getattr(p, "idle_power_mw", 0.0) * c["cycles"] / (p.f0_mhz * 1e3) if c else None,
                "energy_uj": sum(parts.values()) if c else None, "energy_parts_uj": parts,
                "energy_uj_if_dram": sum(load_energy_uj(p, c, dram).values()) if c and dram else None}

    loads = [(r["task"], r["load"], _last_clock(records[i - 1]) if i else None)
             for i, r in enumerate(records) if "load" in r]
    if not loads:
        return {}, []
    task, first, _ = loads[0]
    initial = {"task": task, "shared": cost(first, "shared", first["shared_bytes"]),
               "embedding": {"bytes": first["embedding_bytes"], "words": first["embedding_bytes"] // WORD_BYTES},
               "task_image": cost(first, "task", first["task_bytes"])}
    switches = []
    for t, x, mhz in loads[1:]:
        c = cost(x, "task", x["task_bytes"])
        # on the board the load runs at the clock the previous sentence left
        c["board_ms"] = c["cycles"] / (mhz * 1e3) if c["cycles"] is not None else None
        switches.append({"to": t, "shared_bytes": x["shared_bytes"], "embedding_bytes": x["embedding_bytes"], **c})
    return initial, switches


def _last_clock(rec: dict) -> float:
    return (rec.get("phase2") or rec["phase1"])["clock_mhz"]


def multitask_summary(log: Path, tasks: dict, params: EnergyParams | None = None) -> dict:
    """The multi-task log's figures: per task, per load kind, and the switches' share of the energy.
    `tasks` maps each task of the log to its artifact task (`edgebert.accel.artifact.HwTask`)."""
    p = params or EnergyParams.load()
    head, records = read_log(log)
    board = get_board(head["board"])
    missing = [t for t in head["tasks"] if t not in tasks]
    if missing:
        raise ReportError(f"{log} holds tasks {missing} that the artifact lacks")
    sched = {t: schedule_for(tasks[t], board.name, head["array_n"]).warm() for t in head["tasks"]}
    deadline = asic_deadline_ms(float(head["target_ms"]), board, p)
    energy = [project(r, p, sched[r["task"]], deadline)["energy_uj"] for r in records]
    per_task = {t: _task_summary(t, [r for r in records if r["task"] == t],
                                 [e for r, e in zip(records, energy) if r["task"] == t]) for t in head["tasks"]}
    initial, switches = _loads(p, records)
    e_sent = float(np.sum(energy))
    e_init = sum(initial[k]["energy_uj"] or 0.0 for k in ("shared", "task_image")) if initial else 0.0
    e_switch = float(sum(s["energy_uj"] or 0.0 for s in switches))
    total = e_sent + e_init + e_switch
    by_target = {}
    for t in head["tasks"]:
        mine = [s for s in switches if s["to"] == t]
        if mine:
            by_target[t] = {k: float(np.mean([s[k] for s in mine])) if mine[0][k] is not None else None
                            for k in ("bytes", "words", "cycles", "asic_ms", "board_ms", "energy_uj", "energy_uj_if_dram",
                                      "idle_overlap_uj")}
            parts = mine[0]["energy_parts_uj"]
            by_target[t]["energy_parts_uj"] = parts and {k: float(np.mean([s["energy_parts_uj"][k] for s in mine]))
                                                         for k in parts}
            by_target[t]["count"] = len(mine)
    mean_switch = e_switch / len(switches) if switches else 0.0
    counts = {t: s["n"] for t, s in per_task.items()}
    by_length = {}
    for k in RUN_LENGTHS:              # a sentence's energy does not depend on the order
        n = _switches(counts, k)
        by_length[str(k)] = {"switches": n, "share": n * mean_switch / (e_sent + e_init + n * mean_switch or 1.0)}
    return {"policy": head["policy"], "tasks": per_task, "order": head["interleave"],
            "run_length": head["run_length"], "input": head["input"],
            "n": len(records), "switches": len(switches),
            "switch_shared_bytes": sum(s["shared_bytes"] for s in switches),
            "switch_embedding_bytes": sum(s["embedding_bytes"] for s in switches),
            "per_switch": by_target, "initial_load": initial,
            "energy_uj": {"sentences": e_sent, "initial_load": e_init, "switches": e_switch, "total": total},
            "switch_share": e_switch / total if total else 0.0, "switch_share_by_run_length": by_length,
            "energy_uj_per_sentence": total / len(records) if records else 0.0}


def _switches(counts: dict[str, int], run_length: int) -> int:
    order = [t for t, _ in interleave({t: [None] * n for t, n in counts.items()}, run_length)]
    return sum(a != b for a, b in zip(order, order[1:]))


def _num(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def multitask_markdown(m: dict) -> str:
    """The report's multi-task section."""
    names = " and ".join(get_task(t).folder for t in m["tasks"])
    rows = ["| task | sentences | accuracy | F1 | avg exit layer | energy / sentence (uJ) | energy, all (uJ) |",
            "|---|---|---|---|---|---|---|"]
    for t, s in m["tasks"].items():
        acc = "-" if s["accuracy"] is None else f"{100 * s['accuracy']:.1f} %"
        f1 = f"{100 * s['f1']:.1f} %" if "f1" in s else "-"
        rows.append(f"| {t} | {s['n']} | {acc} | {f1} | {s['avg_exit_layer']:.2f} | "
                    f"{s['energy_uj']:.3f} | {s['energy_uj_total']:.1f} |")
    loads = ["| load | count | words each | bytes each | cycles each | energy each (uJ) | energy, all (uJ) |",
             "|---|---|---|---|---|---|---|"]
    init = m["initial_load"]
    if init:
        for key, what in (("shared", "shared function tables (once)"),
                          ("embedding", "embedding table, placed in DDR (once)"),
                          ("task_image", f"first task image ({init['task']})")):
            x = init[key]
            loads.append(f"| {what} | 1 | {x['words']} | {x['bytes']} | {_num(x.get('cycles'), 'd')} | "
                         f"{_num(x.get('energy_uj'), '.3f')} | {_num(x.get('energy_uj'), '.3f')} |")
    for t, x in m["per_switch"].items():
        total = None if x["energy_uj"] is None else x["energy_uj"] * x["count"]
        loads.append(f"| task switch to {t} | {x['count']} | {x['words']:.0f} | {x['bytes']:.0f} | "
                     f"{_num(x['cycles'], '.0f')} | {_num(x['energy_uj'], '.3f')} | {_num(total, '.1f')} |")
    e = m["energy_uj"]
    dram = [x["energy_uj_if_dram"] for x in m["per_switch"].values() if x["energy_uj_if_dram"] is not None]
    one = next(iter(m["per_switch"].values()), None)
    parts = one and one["energy_parts_uj"]
    split = (f"A switch is {', '.join(f'{k} {v:.3f}' for k, v in parts.items())} uJ and takes "
             f"{one['asic_ms']:.3f} ms at f0 ({one['board_ms']:.3f} ms on the board on average, "
             f"before the sentence's own latency); up to {one['idle_overlap_uj']:.3f} uJ of it overlaps idle time "
             "the sentences are already charged for. ") if parts else ""
    other = ", ".join(f"{x['share'] * 100:.1f} % in runs of {k} ({x['switches']} switches)"
                      for k, x in m["switch_share_by_run_length"].items())
    return "\n".join([
        f"## Multi-task: {names} on one accelerator", "",
        f"{m['n']} sentences ({m['input']} of each task) under `{m['policy']}`, interleaved: {m['order']}. "
        "A task switch loads only the task image; the shared tables and the embedding table move once "
        f"(after the first load they moved {m['switch_shared_bytes']} and {m['switch_embedding_bytes']} bytes).", "",
        *rows, "", *loads, "",
        f"{m['switches']} task switches cost {e['switches']:.1f} uJ: {100 * m['switch_share']:.1f} % of the "
        f"{e['total']:.1f} uJ in all ({e['sentences']:.1f} uJ of sentences, {e['initial_load']:.2f} uJ first load); "
        f"{m['energy_uj_per_sentence']:.3f} uJ per sentence with the loads. {split}"
        f"Re-projected for other interleavings (same sentences): {other}.", "",
        "A load is projected at (V0, f0): offchip_words x 32 x e_offchip_pj_per_bit + cycles x e_cycle_pj "
        "+ P_leak x cycles / f0" + (f"; were the task image read from LPDDR4 (e_dram_pj_per_bit) a switch "
                                    f"would cost {np.mean(dram):.2f} uJ." if dram else "."), ""])
