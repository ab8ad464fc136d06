"""FPGA resource estimate of an accelerator build (DSP, block RAM, UltraRAM, LUT), from the
build's array size and buffer limits and the memory layout the HLS code and its directives
give each buffer (hls/src/edgebert_accel.h, hls/tcl/directives.tcl). It is the cost model's
counterpart for area: a planning estimate until a synthesis report replaces it.

Memory: each buffer is split into the banks its partitioning makes (n banks for the buffers
the array lanes read in parallel), and each bank is mapped to the block-RAM aspect ratio that
needs the fewest blocks (BRAM18 granularity; two BRAM18 per BRAM36), or to UltraRAM (4K x 72).
Weight codes are reshaped into n-code words. Each buffer also states its contents in bytes,
which equal `sizeof` of the same member of the HLS State in that build (a test compiles it).
Arithmetic: one DSP48 per MAC lane (17 x 13 bit product, 48-bit accumulator in the DSP), and
the special-function multipliers and dividers at their declared widths (units.py). LUT:
interfaces and control, per-lane and per-bank terms (assumptions below) and the dividers.
"""
from __future__ import annotations

import math

from edgebert.accel.builds import part_capacities
from edgebert.accel.interface import MAX_CLASSES, MAX_LAYERS, MAX_TYPES, SCHEDULE
from edgebert.accel.predictor import H_BINS, LEN_BINS, ROWS
from edgebert.accel.units import divider_luts, dividers, dsp_per_multiplier, isqrt_luts, multipliers

# BRAM18 aspect ratios (depth, width) of 7-series and UltraScale+ block RAM.
BRAM18 = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
URAM = (4096, 72)
TABLE_WORDS = 257 + 513 + 513 + 257          # exp2, GELU, tanh, ln(1+f)
# Lane masks are read one per cycle in k order: 64-bit memory words hold 64 / n of them
# (array_reshape of the mask array), so they fill URAM's 72-bit rows instead of one row each.
MASK_WORD = 64
# LUT assumptions: AXI masters, AXI-Lite and control outside the lanes; per MAC lane (operand
# muxing, accumulator control); per SFU lane; per memory bank. Dividers: units.py.
LUT_FIXED, LUT_PER_MAC, LUT_PER_SFU_LANE, LUT_PER_BANK = 15000, 40, 1200, 50

# Capacity of each board's part (the board table, boards.json; docs/design.md section 8.3).
PARTS = part_capacities()
DIV_CYCLES, ISQRT_CYCLES = SCHEDULE["div_cycles"], SCHEDULE["isqrt_cycles"]


def bram18_blocks(depth: int, width: int) -> int:
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in BRAM18)


def uram_blocks(depth: int, width: int) -> int:
    return math.ceil(width / URAM[1]) * math.ceil(depth / URAM[0])


def _tiles(outputs: int, n: int) -> int:
    return math.ceil(outputs / n)


def ramp_store(n: int, lim: dict) -> dict:
    """One layer's off-ramp (pooler H x H, classifier MAX_CLASSES x H) in the bitmask-sparse
    format, dense worst case: codes, n-bit lane masks, tile starts."""
    H = lim["EB_MAX_H"]
    return {"codes": H * H + MAX_CLASSES * H, "masks": H * _tiles(H, n) + H * _tiles(MAX_CLASSES, n),
            "tiles": _tiles(H, n) + _tiles(MAX_CLASSES, n)}


def weight_store(n: int, lim: dict) -> dict:
    """The weight store of a build (hls/src/edgebert_accel.h): code capacity EB_WEIGHT_DENSITY
    percent of the dense codes, a lane mask per (tile of n outputs, input) and a start per tile;
    the position and type tables dense. `dense` is what the same matrices take stored dense."""
    L, E, H, F = lim["EB_MAX_LEN"], lim["EB_MAX_E"], lim["EB_MAX_H"], lim["EB_MAX_FFN"]
    on_chip = 0 if lim.get("EB_RAMPS_IN_DDR", 0) else MAX_LAYERS
    r = ramp_store(n, lim)
    dense = E * H + 4 * H * H + 2 * H * F + on_chip * r["codes"]
    density = int(lim.get("EB_WEIGHT_DENSITY", 100))
    return {"codes": -(-dense * density // 100), "dense": dense,
            "masks": E * _tiles(H, n) + 4 * H * _tiles(H, n) + H * _tiles(F, n) + F * _tiles(H, n) + on_chip * r["masks"],
            "tiles": 6 * _tiles(H, n) + _tiles(F, n) + on_chip * r["tiles"], "tables": L * E + MAX_TYPES * E}


def task_weight_bytes(task, n: int, ramps_on_chip: bool = True, max_len: int | None = None) -> dict:
    """One task's weights on chip in the bitmask-sparse store (non-zero codes, n-bit lane
    masks, tile starts; position and type tables dense) against the same matrices dense
    (`ramps_on_chip` False: a build that reads the off-ramps from DDR keeps them out of both;
    `max_len`: the build's longest sentence, the position rows its table buffer holds), and the
    non-zero codes the store must hold. `task` is an artifact HwTask."""
    sparse = dense = codes = 0
    for name, t in task.matrices.items():
        if name.startswith("ramps.") and not ramps_on_chip:
            continue
        rows, cols = t.codes.shape
        if name == "position" and max_len is not None:
            rows = min(rows, max_len)
        dense += rows * cols
        if name in ("position", "token_type"):
            sparse += rows * cols
        else:
            nonzero = int((t.codes != 0).sum())
            codes += nonzero
            sparse += nonzero + cols * _tiles(rows, n) * n // 8 + 4 * _tiles(rows, n)
    return {"bytes_on_chip": sparse, "bytes_dense": dense, "ratio": round(sparse / dense, 4), "codes": codes}


def buffers(n: int, lim: dict) -> list[tuple[str, int, int, int, str, int]]:
    """(name, banks, depth per bank, width in bits, kind, contents in bytes) of every on-chip
    buffer; banks x depth x width covers the contents, padded to whole rows of banks."""
    L, E, H, F, heads = lim["EB_MAX_LEN"], lim["EB_MAX_E"], lim["EB_MAX_H"], lim["EB_MAX_FFN"], lim["EB_MAX_HEADS"]
    ramps_ddr = bool(lim.get("EB_RAMPS_IN_DDR", 0))
    w = weight_store(n, lim)
    vbuf = 8 * H + F + E + MAX_LAYERS * (H + MAX_CLASSES)
    rows = lambda cols: math.ceil(L / n) * cols          # bank depth, partitioned by rows
    out = [("wcodes", 1, math.ceil(w["codes"] / n), 8 * n, "weights", w["codes"]),
           ("wmask", 1, math.ceil(w["masks"] * n / MASK_WORD), MASK_WORD, "weights", w["masks"] * n // 8),
           ("wtile", 1, w["tiles"], 32, "small", 4 * w["tiles"]),
           ("tbuf", 1, math.ceil(w["tables"] / n), 8 * n, "weights", w["tables"])]
    if ramps_ddr:
        r = ramp_store(n, lim)
        out += [("rcodes", 1, math.ceil(r["codes"] / n), 8 * n, "weights", r["codes"]),
                ("rmask", 1, math.ceil(r["masks"] * n / MASK_WORD), MASK_WORD, "weights", r["masks"] * n // 8),
                ("rtile", 1, r["tiles"], 32, "small", 4 * r["tiles"])]
    out += [(b, n, rows(H), 16, "act", 2 * L * H) for b in ("x", "q", "k", "ctx")]
    out += [("ffn_buf", n, rows(F), 16, "act", 2 * L * F), ("emb", n, rows(E), 16, "act", 2 * L * E),
            ("probs", n, rows(L), 16, "act", 2 * L * L)]
    out += [(b, n, L * math.ceil(H / n), 16, "act", 2 * L * H) for b in ("v", "tmp")]
    out += [("scores", n, L * math.ceil(L / n), 16, "act", 2 * L * L)]
    pred = ROWS * (MAX_LAYERS - 2)
    binned = H_BINS * LEN_BINS * MAX_CLASSES
    out += [("span", 1, heads * L, 16, "small", 2 * heads * L), ("predictor", 1, pred, 32, "small", 4 * pred),
            ("binned", 1, binned, 8, "small", binned), ("tables", 1, TABLE_WORDS, 32, "small", 4 * TABLE_WORDS),
            ("vbuf", 1, vbuf, 16, "small", 2 * vbuf), ("gbuf", 1, E + 2 * H, 32, "small", 4 * (E + 2 * H))]
    return out


def estimate(n: int, limits: dict, part: str, weight_memory: str = "bram") -> dict:
    """DSP, BRAM36, URAM and LUT of a build on `part`, against the part's capacity."""
    if part not in PARTS:
        raise ValueError(f"no capacity data for part {part!r}; known: {', '.join(PARTS)}")
    bram18 = uram = banks = 0
    detail = []
    for name, nb, depth, width, kind, size in buffers(n, limits):
        banks += nb
        row = {"buffer": name, "banks": nb, "depth": depth, "width": width, "bytes": size}
        if kind == "weights" and weight_memory == "uram":
            blocks = nb * uram_blocks(depth, width)
            uram += blocks
            detail.append({**row, "uram": blocks})
        else:
            blocks = nb * bram18_blocks(depth, width)
            bram18 += blocks
            detail.append({**row, "bram36": blocks / 2})
    mults = [{"unit": m.name, "bits": [m.a_bits, m.b_bits], "count": n if m.per_lane else 1,
              "dsp_each": dsp_per_multiplier(m.a_bits, m.b_bits, part)} for m in multipliers()]
    divs = [{"unit": d.name, "dividend_bits": d.dividend_bits, "divisor_bits": d.divisor_bits,
             "quotient_bits": d.quotient_bits, "cycles": DIV_CYCLES, "lut": divider_luts(d)} for d in dividers(limits)]
    divs.append({"unit": "isqrt", "radicand_bits": 62, "root_bits": 31, "cycles": ISQRT_CYCLES, "lut": isqrt_luts()})
    dsp = n * n + sum(m["count"] * m["dsp_each"] for m in mults)
    lut = (LUT_FIXED + LUT_PER_MAC * n * n + LUT_PER_SFU_LANE * n + LUT_PER_BANK * banks
           + sum(d["lut"] for d in divs))
    need = {"dsp": dsp, "bram36": math.ceil(bram18 / 2), "uram": uram, "lut": lut}
    cap = PARTS[part]
    return {**need, "capacity": cap, "utilization": {k: (need[k] / cap[k] if cap[k] else (0.0 if not need[k] else math.inf))
                                                      for k in need},
            "fits": all(need[k] <= cap[k] for k in need), "buffers": detail, "multipliers": mults,
            "dividers": divs, "weight_store": weight_store(n, limits)}
