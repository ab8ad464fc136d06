"""Test vectors for the C++ testbenches, computed by the golden model and the cost model.

Per operator (`write_operator_vectors`): random and edge-case inputs with the golden outputs,
one case per line of whitespace-separated integers (`hls/tb/tb_<op>.cpp` reads them). For the
whole accelerator (`write_accelerator_vectors`): the three memory images as raw uint32 files and
one line per sentence with the golden run's H1, exit decision, predicted and exit layer, logits,
entropies, saturations, the modeled cycles of both phases and the golden counts of MACs with a
zero operand of both phases (`hls/tb/tb_accel.cpp`).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgebert.accel import cost, images
from edgebert.accel.golden import GoldenModel, gated_macs, predict_exit_layer
from edgebert.accel.interface import MAX_CLASSES
from edgebert.accel.numerics import adaptivfloat as af
from edgebert.accel.numerics import functions as fn
from edgebert.accel.numerics.fixed import Saturations, act, requantize
from edgebert.accel.predictor import H_BINS, LEN_BINS, Binned

OPERATORS = ("af", "mac", "softmax", "layernorm", "pwl", "entropy", "exit")


def _line(*parts) -> str:
    out = []
    for p in parts:
        out.extend(str(int(v)) for v in np.asarray(p, dtype=np.int64).ravel())
    return " ".join(out)


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def write_operator_vectors(out: Path, n: int = 16, seed: int = 0, cases: int = 200) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tabs = fn.tables()
    _write(out / "tables.txt", [_line(tabs[name]) for name in images.TABLE_ORDER])
    _write(out / "af.txt", [_line(c, af.decode_fixed(np.uint8(c))) for c in range(256)])
    _write(out / "mac.txt", _mac_cases(rng, n, cases))
    _write(out / "softmax.txt", _softmax_cases(rng, tabs, n, cases))
    layernorm, roots = _layernorm_cases(rng, n, cases)
    _write(out / "layernorm.txt", layernorm)
    _write(out / "isqrt.txt", roots)
    _write(out / "pwl.txt", _pwl_cases(rng, tabs))
    _write(out / "entropy.txt", _entropy_cases(rng, tabs, cases))
    _write(out / "exit.txt", _exit_cases(rng, cases))
    _write(out / "binned.txt", _binned_cases(rng, cases))
    return out


def _mac_cases(rng, n: int, cases: int) -> list[str]:
    lines = []
    for i in range(cases):
        m, cols, k = (int(rng.integers(1, 3 * n)), int(rng.integers(1, 3 * n)), int(rng.integers(1, 80)))
        a = rng.integers(-32768, 32768, size=(m, k)) * (rng.random((m, k)) < 0.8)    # some zero operands
        codes = rng.integers(0, 256, size=(cols, k), dtype=np.int64) * (rng.random((cols, k)) < 0.6)
        bias = rng.integers(-32768, 32768, size=cols)
        lines.append(mac_case(n, a, codes, bias, int(rng.integers(-2, 34))))
    return lines


def mac_case(n: int, a: np.ndarray, codes: np.ndarray, bias: np.ndarray, shift: int) -> str:
    """One line of mac.txt: activations a (M, K) times the weight codes (cols, K), requantized
    with `shift` and `bias`; with the cycles and the MACs with a zero operand."""
    a, codes = np.asarray(a, dtype=np.int64), np.asarray(codes, dtype=np.int64)
    (m, k), cols = a.shape, codes.shape[0]
    words = af.decode_fixed(codes.astype(np.uint8))
    acc = a @ words.T                                              # exact: |acc| < 2^40
    sat = Saturations()
    y = requantize(acc, shift, act(0), sat, "mac", bias)
    return _line(n, m, cols, k, shift, cost.matmul_cycles(m, cols, k, n), gated_macs(a, words.T), a, codes,
                 bias, y, sum(sat.values()))


def _softmax_cases(rng, tabs, n: int, cases: int) -> list[str]:
    lines = []
    for i in range(cases):
        length = int(rng.integers(1, 129))
        row, frac = int(rng.integers(0, length)), int(rng.integers(6, 14))
        scores = rng.integers(-(1 << min(15, frac + 4)), 1 << min(15, frac + 4), size=length)
        if i % 10 == 0:
            scores = rng.choice([-32768, 32767, 0], size=length)               # extremes
        span = rng.integers(0, fn.PROB_ONE + 1, size=length)
        span[: length // 3] = fn.PROB_ONE
        probs = fn.softmax(scores[None], frac, tabs["exp2"])[0]
        dist = np.abs(row - np.arange(length))
        masked = fn.apply_span_mask(probs, span[dist])
        lines.append(_line(length, row, frac, cost.softmax_cycles(1, length, n), scores, span, masked))
    return lines


def _layernorm_cases(rng, n: int, cases: int) -> tuple[list[str], list[str]]:
    lines = []
    for i in range(cases):
        width = int(rng.choice([1, 2, 7, 128, 256, 768, int(rng.integers(3, 300))]))
        frac_in, out_frac = int(rng.integers(8, 14)), int(rng.integers(8, 14))
        spread = 1 << int(rng.integers(4, 16))
        x = rng.integers(-spread, spread, size=width)
        if i % 10 == 0:
            x = rng.choice([-32768, 32767], size=width)
        gain = rng.integers(-(1 << 22), 1 << 22, size=width)
        beta = rng.integers(-32768, 32768, size=width)
        eps = fn.layernorm_eps(1e-5, width, frac_in)
        sat = Saturations()
        y = fn.layernorm(x[None], frac_in, gain, beta, eps, act(out_frac), sat, "ln")[0]
        lines.append(_line(width, out_frac, eps, cost.layernorm_cycles(1, width, n), x, gain, beta, y,
                           sum(sat.values())))
    edges = [0, 1, 2, 3, 4, 15, 16, 17, (1 << 62) - 1, (1 << 61), ((1 << 31) - 1) ** 2]
    ks = rng.integers(1, 1 << 31, size=cases)
    qs = edges + [int(k) * int(k) - 1 for k in ks[:50]] + [int(k) * int(k) for k in ks[50:100]] \
        + [int(q) for q in rng.integers(0, 1 << 62, size=cases, dtype=np.int64)]
    return lines, [_line(q, math.isqrt(q)) for q in qs]


def _pwl_cases(rng, tabs) -> list[str]:
    lines = []
    for frac in (5, 8, 10, 11, 12, 13):
        edge = 8 << frac
        xs = np.unique(np.concatenate([
            rng.integers(-32768, 32768, size=300), [-32768, 32767, 0, -1, 1],
            np.clip([-edge - 1, -edge, -edge + 1, edge - 1, edge, edge + 1], -32768, 32767)]))
        for out_frac in (frac, max(frac - 2, 0)):
            sat = Saturations()
            gelu = fn.gelu(xs, frac, act(out_frac), tabs["gelu"], sat)
            lines += [_line(0, frac, out_frac, x, y) for x, y in zip(xs, gelu)]
        tanh = fn.tanh(xs, frac, tabs["tanh"])
        lines += [_line(1, frac, fn.TANH_FRAC, x, y) for x, y in zip(xs, tanh)]
    return lines


def _entropy_cases(rng, tabs, cases: int) -> list[str]:
    zs = np.unique(np.concatenate([[1, 2, 3, 32767, 32768, 32769, 65535, 65536, 65537, (1 << 20) - 1],
                                   rng.integers(1, 1 << 22, size=cases)]))
    lines = [_line(0, z, fn.ln_q16(np.array([z]), tabs["ln1p"])[0]) for z in zs]
    for i in range(cases):
        classes, frac = int(rng.integers(2, 5)), int(rng.integers(6, 15))
        logits = rng.integers(-(1 << min(15, frac + 3)), 1 << min(15, frac + 3), size=classes)
        if i % 10 == 0:
            logits[:] = logits[0]                                           # all equal: ln C
        h = fn.entropy(logits[None], frac, tabs)[0]
        lines.append(_line(1, classes, frac, logits, h, cost.entropy_cycles(classes)))
    return lines


def _exit_cases(rng, cases: int, layers: int = 12) -> list[str]:
    table = rng.integers(0, 50000, size=(100, layers - 2))
    lines = [_line(layers, table)]
    for _ in range(cases):
        h1, thr = int(rng.integers(0, 80000)), int(rng.integers(0, 45000))
        lines.append(_line(h1, thr, predict_exit_layer(h1, thr, table, layers)))
    return lines


def _binned_cases(rng, cases: int, layers: int = 12) -> list[str]:
    """The binned predictor: random cells and edges, then H1 over and past the last bin, lengths
    around the edges, every answer."""
    b = Binned(rng.integers(2, layers + 1, size=(H_BINS, LEN_BINS, MAX_CLASSES)),
               np.sort(rng.integers(1, 129, size=LEN_BINS - 1)))
    lines = [_line(b.edges, b.bins)]
    for _ in range(cases):
        h1, thr = int(rng.integers(0, 80000)), int(rng.integers(0, 45000))
        length = int(rng.choice(b.edges) + rng.integers(-1, 2)) if rng.random() < 0.5 else int(rng.integers(1, 129))
        answer = int(rng.integers(0, MAX_CLASSES))
        lines.append(_line(h1, thr, length, answer, b.predict(h1, length, answer, thr)))
    return lines


# ---- the whole accelerator ---------------------------------------------------------------------
def write_accelerator_vectors(out: Path, task, encoded, n: int = 16, policies=(0,),
                              threshold: int | None = None, ramps_in_ddr: bool = False) -> Path:
    """Images and golden expectations for `encoded` sentences; policy 0 runs to the last layer
    (still exiting early), policy 1 stops at the predicted layer. `ramps_in_ddr`: the expected
    cycles of a build that fetches the off-ramps from DDR."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images.shared_image(task.tables).tofile(out / "shared.u32")
    images.task_image(task).tofile(out / "task.u32")
    images.embedding_image(task.word_table).tofile(out / "embedding.u32")
    golden = GoldenModel(task)
    sched = cost.Schedule(task.cfg, n, len(task.live_heads),
                          images.ramp_record_words(task) if ramps_in_ddr else None)
    thr = task.threshold_q16 if threshold is None else int(threshold)
    lines = []
    for e in encoded:
        for policy in policies:
            r = golden.run(e.ids, e.token_types, thr, use_predictor=policy == 1)
            c1 = sched.phase1(images.embedding_record_words(task.word_table, e.ids))["cycles"]
            c2 = sched.phase2(len(e.ids), r.exit_layer - 1)["cycles"] if r.exit_layer > 1 else 0
            lines.append(_line(policy, thr, len(e.ids), task.cfg.layers,
                               images.token_words(e.ids, e.token_types), r.entropies[0],
                               r.entropies[0] < thr, r.predicted_layer, r.predicted_binned, r.exit_layer, len(r.logits),
                               r.logits, len(r.entropies), r.entropies, sum(r.saturations.values()), c1, c2,
                               [r.ops.get(ph, {}).get("gated_macs", 0) for ph in ("phase1", "phase2")]))
    _write(out / "sentences.txt", lines)
    return out
