"""Cross-check of the accelerator's kernels against hls4ml's `nnet_utils` kernels.

One C++ driver (`hls/crosscheck/crosscheck.cpp`), compiled with g++ against the hls4ml wheel's
nnet_utils and ap_types headers and the project's `hls/include`, runs both implementations of
each operator on the same fixed-point inputs (ap_fixed<16,6> words, Q5.10). This module draws
the inputs, computes float64 references from those same quantized inputs and reports each
implementation's error against them in real units (probabilities for softmax). The hls4ml
configurations are what its converter emits for an ap_fixed<16,6> model (granularity 'name';
'model' for the default dense), plus one widened LayerNorm. hls4ml ships no GELU kernel; its
GELU row is GELU's tanh form built around `nnet::tanh`.
"""
from __future__ import annotations

import hashlib
import math
import subprocess
from pathlib import Path

import numpy as np

from edgebert.accel.numerics import adaptivfloat as af
from edgebert.accel.numerics import functions as fn
from edgebert.accel.numerics.fixed import to_fixed
from edgebert.sim.csim import HLS_DIR, CSimError, ap_types_dir, build, compiler

DRIVER = HLS_DIR / "crosscheck" / "crosscheck.cpp"
FRAC = 10                              # ap_fixed<16,6>: the data format of every input
LN_EPS = 1e-5                          # the models' LayerNorm epsilon (hls4ml: epsilon_power_of_10 = 5)
OPERATORS = ("dense", "softmax", "layernorm", "gelu", "tanh")

# Per operator, the driver's output columns in order: (implementation, family, configuration).
IMPLEMENTATIONS = {
    "dense": [
        ("edgebert", "edgebert", "MAC array, exact accumulator, one requantize (round half up, saturate)"),
        ("hls4ml exact", "hls4ml", "dense_latency; ap_fixed<16,6> x, w, b; accum ap_fixed<39,19> (inferred "
                                   "per layer); result ap_fixed<16,6,AP_RND,AP_SAT>"),
        ("hls4ml default", "hls4ml", "dense_latency; model-wide ap_fixed<16,6> accum and result "
                                     "(AP_TRN, AP_WRAP)"),
    ],
    "softmax": [
        ("edgebert", "edgebert", "exp2 PWL (256 segments, Q.16), exact floor(2^40/sum), UQ1.15 out"),
        ("hls4ml stable", "hls4ml", "1024-entry exp and 1/x tables, ap_fixed<18,8,AP_RND,AP_SAT>; "
                                    "x_max - x in ap_ufixed<15,5>; out ap_fixed<16,6>"),
        ("hls4ml latency", "hls4ml", "as stable, exp table addressed by x itself (no max subtraction)"),
    ],
    "layernorm": [
        ("edgebert", "edgebert", "exact integer mean and variance, isqrt, floor(2^48/s); Q5.10 out"),
        ("hls4ml default", "hls4ml", "4096-entry 1/sqrt table ap_ufixed<8,5>, accum ap_fixed<14,4> "
                                     "(RND_CONV, SAT); out ap_fixed<33,13>"),
        ("hls4ml widened", "hls4ml", "4096-entry table ap_ufixed<18,10>, accum ap_fixed<32,16>; "
                                     "out ap_fixed<33,13>"),
    ],
    "gelu": [
        ("edgebert", "edgebert", "PWL, 513 Q.16 samples on [-8, 8); Q5.10 out"),
        ("hls4ml tanh-composed", "hls4ml", "no GELU kernel in hls4ml: 0.5 x (1 + nnet::tanh(u)), "
                                           "u in ap_fixed<32,12>; out ap_fixed<16,6>"),
    ],
    "tanh": [
        ("edgebert", "edgebert", "PWL, 513 Q.16 samples on [-8, 8); Q1.14 out"),
        ("hls4ml", "hls4ml", "nnet::tanh, 1024 entries on [-4, 4), table ap_fixed<18,8>; out ap_fixed<16,6>"),
    ],
}

INPUTS = {
    "dense": "x uniform in [-1, 1); weights AdaptivFloat<8,3> codes (bias 4: word * 2^-10), 40 % pruned; "
             "bias uniform in [-2, 2)",
    "softmax": "scores N(0, s^2), s log-uniform in [0.5, 4] per row, clipped to [-16, 16)",
    "layernorm": "x = m + s z, m uniform in [-0.5, 0.5), s log-uniform in [0.1, 0.95] per row "
                 "(variance < 1, hls4ml's table domain); gamma in [0.75, 1.25), beta in [-0.5, 0.5)",
    "gelu": "every Q5.10 word in [-8, 8)",
    "tanh": "every Q5.10 word in [-8, 8)",
}


def nnet_templates() -> Path:
    """The wheel's `templates/vivado` folder (holds nnet_utils/ beside ap_types/)."""
    root = ap_types_dir().parent
    for name in ("nnet_dense.h", "nnet_activation.h", "nnet_layernorm.h"):
        if not (root / "nnet_utils" / name).is_file():
            raise CSimError(f"no nnet_utils/{name} under {root}: this hls4ml wheel lacks the kernels "
                            "the cross-check compares against (hls4ml >= 1.1 ships nnet_layernorm.h)")
    return root


def hls4ml_version() -> str:
    try:
        from importlib.metadata import version
        return version("hls4ml")
    except Exception:                  # an unpackaged checkout: the headers still work
        return "unknown"


def build_driver() -> Path:
    """Compile the driver (cached under build/csim/, keyed by its source, the project's kernels,
    the flags and the nnet_utils headers)."""
    compiler()                         # a clear error even where a cached build exists
    templates = nnet_templates()
    digest = hashlib.sha256()
    for f in sorted((templates / "nnet_utils").glob("*.h")):
        digest.update(f.read_bytes())
    flags = ["-std=c++14", "-O2", "-Wall", "-Wno-unknown-pragmas",
             # the ap_types headers trip these in inlined code; they are not this project's
             "-Wno-uninitialized", "-Wno-maybe-uninitialized",
             f"-I{HLS_DIR / 'include'}", "-isystem", str(ap_types_dir()), "-isystem", str(templates),
             f"-DXC_NNET_DIGEST=0x{digest.hexdigest()[:12]}"]
    return build("crosscheck", [DRIVER], flags, shared=False)


def _run(exe: Path, op: str, words=None) -> np.ndarray:
    data = b"" if words is None else np.ascontiguousarray(words, dtype="<i8").tobytes()
    proc = subprocess.run([str(exe), op], input=data, capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise CSimError(f"cross-check driver failed on {op} (exit {proc.returncode}): "
                        f"{proc.stderr.decode(errors='replace')[-2000:]}")
    return np.frombuffer(proc.stdout, dtype="<f8")


def shapes(exe: Path) -> dict[str, int]:
    """The driver's compile-time sizes: dense inputs/outputs, softmax row, LayerNorm width."""
    out = subprocess.run([str(exe), "shape"], capture_output=True, text=True, check=True).stdout.split()
    return dict(zip(("dense_in", "dense_out", "softmax_n", "ln_width"), map(int, out)))


def _words(real: np.ndarray) -> np.ndarray:
    return np.clip(to_fixed(real, FRAC), -32768, 32767)


def _cat(*parts) -> np.ndarray:
    return np.concatenate([np.asarray(p, dtype=np.int64).ravel() for p in parts])


# ---- operators: each returns (outputs [cases, implementations], float64 reference [cases]) ------
def run_dense(exe: Path, rng, n: int, size: dict) -> tuple[np.ndarray, np.ndarray]:
    k, cols = size["dense_in"], size["dense_out"]
    codes = rng.integers(0, 256, size=(k, cols)) * (rng.random((k, cols)) < 0.6)
    w = af.decode_fixed(codes.astype(np.uint8)).astype(np.int64)
    b = rng.integers(-2048, 2048, size=cols)
    x = rng.integers(-1024, 1024, size=(n, k))
    out = _run(exe, "dense", _cat(n, w, b, x)).reshape(n * cols, 3)
    ref = (x @ w + (b << FRAC)).astype(np.float64).ravel() / 2.0 ** (2 * FRAC)   # exact in float64
    return out, ref


def run_softmax(exe: Path, rng, n: int, size: dict) -> tuple[np.ndarray, np.ndarray]:
    length = size["softmax_n"]
    s = np.exp(rng.uniform(math.log(0.5), math.log(4.0), size=(n, 1)))
    x = np.clip(_words(rng.standard_normal((n, length)) * s), -16 << FRAC, (16 << FRAC) - 1)
    out = _run(exe, "softmax", _cat(fn.tables()["exp2"], n, x)).reshape(n * length, 3)
    r = x / 2.0 ** FRAC
    e = np.exp(r - r.max(axis=1, keepdims=True))
    return out, (e / e.sum(axis=1, keepdims=True)).ravel()


def run_layernorm(exe: Path, rng, n: int, size: dict) -> tuple[np.ndarray, np.ndarray]:
    width = size["ln_width"]
    gamma = rng.integers(768, 1280, size=width)                       # [0.75, 1.25) in Q5.10
    beta = rng.integers(-512, 512, size=width)
    gain = to_fixed(gamma / 2.0 ** FRAC * math.sqrt(width), fn.LN_GAIN_FRAC)   # edgebert's gain word
    m = rng.uniform(-0.5, 0.5, size=(n, 1))
    s = np.exp(rng.uniform(math.log(0.1), math.log(0.95), size=(n, 1)))
    x = _words(m + s * rng.standard_normal((n, width)))
    eps_q = fn.layernorm_eps(LN_EPS, width, FRAC)
    out = _run(exe, "layernorm", _cat(n, eps_q, gamma, beta, gain, x)).reshape(n * width, 3)
    r = x / 2.0 ** FRAC
    norm = (r - r.mean(axis=1, keepdims=True)) / np.sqrt(r.var(axis=1, keepdims=True) + LN_EPS)
    return out, (norm * gamma / 2.0 ** FRAC + beta / 2.0 ** FRAC).ravel()


def run_pwl(exe: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    x = np.arange(-8 << FRAC, 8 << FRAC)
    tabs = fn.tables()
    out = _run(exe, "pwl", _cat(tabs["gelu"], tabs["tanh"], x.size, x)).reshape(x.size, 4)
    r = x / 2.0 ** FRAC
    gelu = 0.5 * r * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (r + 0.044715 * r ** 3)))
    return {"gelu": (out[:, [0, 3]], gelu), "tanh": (out[:, [1, 2]], np.tanh(r))}


def _rows(op: str, out: np.ndarray, ref: np.ndarray) -> list[dict]:
    rows = []
    for col, (impl, family, config) in enumerate(IMPLEMENTATIONS[op]):
        err = np.abs(out[:, col] - ref)
        rows.append({"operator": op, "implementation": impl, "family": family, "config": config,
                     "max_abs_err": float(err.max()), "mean_abs_err": float(err.mean()),
                     "count": int(err.size)})
    return rows


def crosscheck(seed: int = 0, n: int = 2000, exe: Path | None = None) -> dict:
    """Every operator through both implementations; `n` rows for dense, softmax and LayerNorm
    (GELU and tanh always take every word of [-8, 8)). One JSON-ready dict."""
    if n < 1:
        raise ValueError("n must be >= 1")
    exe = exe or build_driver()
    size = shapes(exe)
    rng = np.random.default_rng(seed)
    results = {"dense": run_dense(exe, rng, n, size), "softmax": run_softmax(exe, rng, n, size),
               "layernorm": run_layernorm(exe, rng, n, size), **run_pwl(exe)}
    rows = [r for op in OPERATORS for r in _rows(op, *results[op])]
    dense_out, dense_ref = results["dense"]
    limit = 32.0 - 2.0 ** -FRAC
    return {
        "seed": seed, "n": n, "hls4ml_version": hls4ml_version(), "data_format": "ap_fixed<16,6> (Q5.10)",
        "sizes": size, "inputs": INPUTS, "rows": rows,
        # both exact accumulations rounded once the same way: the words must agree bit for bit
        "dense_word_mismatches": int(np.count_nonzero(dense_out[:, 0] != dense_out[:, 1])),
        "dense_outside_format": int(np.count_nonzero(np.abs(dense_ref) > limit)),
        "hls4ml_has_gelu": False,
    }


def _fmt(v: float) -> str:
    return f"{v:.3g}" if v >= 1e-3 or v == 0 else f"{v:.2e}"


def format_table(report: dict) -> str:
    """The report as an aligned text table, then the dense bit-identity line."""
    head = ("operator", "implementation", "max |err|", "mean |err|", "cases", "configuration")
    body = [(r["operator"], r["implementation"], _fmt(r["max_abs_err"]), _fmt(r["mean_abs_err"]),
             str(r["count"]), r["config"]) for r in report["rows"]]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:-1], widths)) + "  " + row[-1] for row in [head, *body]]
    lines.append(f"seed {report['seed']}, n {report['n']}, hls4ml {report['hls4ml_version']}, "
                 f"inputs {report['data_format']}; errors against float64 on the same quantized inputs")
    lines.append(f"dense: edgebert vs hls4ml exact, {report['dense_word_mismatches']} differing output words; "
                 f"{report['dense_outside_format']} outputs outside the format")
    lines.append("gelu: hls4ml ships no GELU kernel; its row is GELU's tanh form around nnet::tanh")
    return "\n".join(lines)
