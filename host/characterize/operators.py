"""Per operator cost of the accelerator from its cycle model (edgebert.accel.cost), its on-chip
buffer traffic and its 12 nm energy (edgebert.accel.energy.operator_energy).

Traffic rule (bytes read from and written to the on-chip buffers, per operator; word widths from
docs/numerics.md, the access pattern from the schedule in docs/hardware.md):
  - matmul (M x K)(K x C) on the n x n output-stationary array: each of its ceil(M/n) ceil(C/n)
    tiles reads K words of each of its rows of A and K words of each of its columns of B, so A is
    read ceil(C/n) times and B ceil(M/n) times: K (M ceil(C/n) a + C ceil(M/n) b) bytes, plus
    one bias word per output column per row tile (weight matmuls); it writes M C words.
    a = 2 (int16 activations); b = 1 for weights (AdaptivFloat<8,3> codes), 2 for K, V and the
    probabilities (int16, UQ1.15).
  - softmax, per row of W: two passes read the W scores, the third reads the span-mask table (W
    words) and writes W probabilities; the exponentials stay in the row scratch (eb_softmax.h).
  - LayerNorm, per row of W: three passes read the row, the third also the gain (int32, Q.16) and
    beta (int16) words, and writes W words (eb_layernorm.h).
  - GELU, tanh, bias and the residual add run on the matmul drain: the skip operand of each
    residual add is read (s H words); GELU's and tanh's tables are inside the special-function
    unit, so they move no buffer bytes; the drained result is the matmul's write.
  - embedding, per token: the position and type rows are read, the summed row (E words) written;
    its record comes from DDR (off-chip words, counted apart).
  - entropy: two passes over the logits, one 32-bit result word.
The roofline's buffer roof: the array takes n row and n column operands of 16 bits per cycle
(the broadcast of docs/hardware.md), 4n bytes per cycle; its compute roof is n^2 MACs per cycle.

Lengths beyond a config's max_len are computed from the same formulas, analytically: the build's
buffers (EB_MAX_LEN) do not hold them, and no C-simulation checks them.
"""
from __future__ import annotations

from collections import Counter

from edgebert.accel import cost
from edgebert.accel.asic12nm import EnergyParams
from edgebert.accel.cost import GEMM_OPERATORS, OPERATORS, Schedule, cdiv
from edgebert.accel.energy import operator_energy
from edgebert.core.config import load_model_config

CONFIGS = ("tiny", "edge", "paper")
SEQS = (32, 64, 128, 256, 512)
ARRAYS = (8, 16, 32)
LAYER_OPERATORS = ("qkv", "qk_t", "av", "out_proj", "ffn1", "ffn2", "softmax", "layernorm", "gelu", "residual_add")
NON_GEMM = tuple(op for op in OPERATORS if op not in GEMM_OPERATORS)

ACT = 2          # int16 activation word (docs/numerics.md)
CODE = 1         # AdaptivFloat<8,3> weight code (docs/numerics.md)
GAIN = 4         # LayerNorm gain gamma sqrt(W), Q.16 in an int32 word (hls/include/eb_layernorm.h)
ENTROPY_WORD = 4  # one 32-bit entropy result word


def dense_record_words(embed_dim: int) -> int:
    """DDR words of one embedding row with no zero codes: its bitmask and its codes four to a word
    (edgebert.accel.images.embedding_record_words); a pruned table reads fewer."""
    return cdiv(embed_dim, 32) + cdiv(embed_dim, 4)


def gemm_traffic(count: int, m: int, cols: int, k: int, n: int, b: int, bias: bool) -> Counter:
    read = k * (m * cdiv(cols, n) * ACT + cols * cdiv(m, n) * b) + (cols * cdiv(m, n) * ACT if bias else 0)
    return Counter({"read_bytes": count * read, "write_bytes": count * m * cols * ACT})


def softmax_traffic(rows: int, width: int) -> Counter:
    return Counter({"read_bytes": rows * 3 * width * ACT, "write_bytes": rows * width * ACT})


def layernorm_traffic(rows: int, width: int) -> Counter:
    return Counter({"read_bytes": rows * width * (3 * ACT + GAIN + ACT), "write_bytes": rows * width * ACT})


def layer_traffic(sched: Schedule, s: int) -> dict[str, Counter]:
    h = sched.cfg.hidden
    out = {op: gemm_traffic(*shape, sched.n, b=ACT if op in ("qk_t", "av") else CODE, bias=op not in ("qk_t", "av"))
           for op, shape in cost.layer_matmuls(sched, s).items()}
    out["softmax"] = softmax_traffic(sched.heads * s, s)
    out["layernorm"] = layernorm_traffic(2 * s, h)
    out["gelu"] = Counter()
    out["residual_add"] = Counter({"read_bytes": 2 * s * h * ACT})
    return out


def ramp_traffic(sched: Schedule) -> dict[str, Counter]:
    ramp = Counter()
    for shape in cost.offramp_matmuls(sched).values():
        ramp += gemm_traffic(*shape, sched.n, b=CODE, bias=True)
    k = sched.cfg.num_labels
    return {"offramp": ramp, "entropy": Counter({"read_bytes": 2 * k * ACT, "write_bytes": ENTROPY_WORD})}


def sentence_traffic(sched: Schedule, s: int, layers_run: int) -> dict[str, Counter]:
    e = sched.cfg.embed_dim
    out = {op: Counter() for op in OPERATORS}
    out["embedding"] = Counter({"read_bytes": s * 2 * e * ACT, "write_bytes": s * e * ACT})
    out["layernorm"] += layernorm_traffic(s, e)
    out["embed_proj"] = gemm_traffic(1, s, sched.cfg.hidden, e, sched.n, b=CODE, bias=True)
    body = layer_traffic(sched, s) | ramp_traffic(sched)
    for _ in range(1 + layers_run):
        for op, c in body.items():
            out[op] += c
    return out


def _table(ops: dict[str, Counter], traffic: dict[str, Counter], p: EnergyParams, v: float) -> dict:
    """Per operator metrics and shares of a set of operators (a layer or a sentence)."""
    counts = {op: {"cycles": int(c["cycles"]), "macs": int(c["macs"]), "sfu": int(c["sfu"]),
                   "offchip_words": int(c["offchip_words"])} for op, c in ops.items()}
    energy = operator_energy(p, counts, v)
    cycles = sum(c["cycles"] for c in counts.values())
    total_uj = sum(energy.values())
    out = {"cycles": {}, "energy_uj": {}, "macs": {}, "sfu": {}, "read_bytes": {}, "write_bytes": {},
           "intensity": {}, "macs_per_cycle": {}}
    for op, c in counts.items():
        t = traffic.get(op, Counter())
        moved = t["read_bytes"] + t["write_bytes"]
        out["cycles"][op], out["energy_uj"][op] = c["cycles"], energy[op]
        out["macs"][op], out["sfu"][op] = c["macs"], c["sfu"]
        out["read_bytes"][op], out["write_bytes"][op] = int(t["read_bytes"]), int(t["write_bytes"])
        out["intensity"][op] = c["macs"] / moved if moved else None          # MACs per byte
        out["macs_per_cycle"][op] = c["macs"] / c["cycles"] if c["cycles"] else None
    gemm = [op for op in counts if op in GEMM_OPERATORS]
    others = [op for op in counts if op not in GEMM_OPERATORS]
    out["total_cycles"], out["total_energy_uj"] = cycles, total_uj
    out["gemm_share_cycles"] = sum(out["cycles"][op] for op in gemm) / cycles
    out["gemm_share_energy"] = sum(energy[op] for op in gemm) / total_uj
    out["top_non_gemm"] = max(others, key=lambda op: (out["cycles"][op], energy[op]))
    out["top_non_gemm_energy"] = max(others, key=lambda op: energy[op])
    return out


def roof(n: int) -> dict:
    """The roofline of an n x n array fed 4n bytes per cycle (module docstring)."""
    return {"n": n, "peak_macs_per_cycle": n * n, "buffer_bytes_per_cycle": 4 * n,
            "ridge_macs_per_byte": n / 4, "sfu_elements_per_cycle": n}


def characterize(config: str, s: int, n: int, p: EnergyParams | None = None, v: float | None = None) -> dict:
    """One row: a whole sentence (embedding, every layer and off-ramp, no early exit) and one
    encoder layer, per operator, at s tokens on an n x n array, energy at supply v (default V0)."""
    cfg = load_model_config(config)
    p = EnergyParams.load() if p is None else p
    v = p.v0 if v is None else v
    sched = Schedule(cfg, n)
    layers_run = cfg.layers - 1
    sentence = _table(cost.sentence_operators(sched, [dense_record_words(cfg.embed_dim)] * s, layers_run),
                      sentence_traffic(sched, s, layers_run), p, v)
    layer = _table(cost.layer_operators(sched, s), layer_traffic(sched, s), p, v)
    return {"config": config, "seq": s, "n": n, "analytic_only": s > cfg.max_len, "volts": v,
            "gemm_share_cycles": sentence["gemm_share_cycles"], "gemm_share_energy": sentence["gemm_share_energy"],
            "top_non_gemm": sentence["top_non_gemm"], "sentence": sentence, "layer": layer}


def sweep(configs=CONFIGS, seqs=SEQS, arrays=ARRAYS, p: EnergyParams | None = None) -> list[dict]:
    p = EnergyParams.load() if p is None else p
    return [characterize(c, s, n, p) for c in configs for s in seqs for n in arrays]
