"""Inputs for the C-sim fuzzer (fuzz.py): random tasks of any model shape, built in numpy
straight into the export's integers (no torch, no training code), and the sentences, thresholds
and stop layers run on them.

Everything is a pure function of (seed, group): a group is one random task and the cases run on
it, so a case is found again from the seed and its index alone. Categories (one per group):

    random      small random shapes, weights like exported ones, any tokens/thresholds/stops
    tokens      edge token ids (0, 1, vocab - 1, the special ids), lengths 1 and max_len, types
    thresholds  0, -1, +-2^31, H1 itself and its neighbours, predictor table entries, bin edges
    saturation  extreme codes, exponent biases, fractions, biases and gains: every clip path
    entropy     off-ramp logits all equal, or far apart (large classifier words, fraction 0)
    shipped     the shapes of configs/model/*.json (full vocabulary), short sentences
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from edgebert.accel.artifact import AfTensor, HwTask
from edgebert.accel.interface import LIMIT_DEFAULTS, MAX_CLASSES, MAX_LAYERS, MAX_TYPES
from edgebert.accel.numerics import adaptivfloat as af
from edgebert.accel.numerics import functions as fn
from edgebert.accel.numerics.fixed import SITES
from edgebert.accel.predictor import H_BINS, H_SHIFT, LEN_BINS, ROWS, Binned
from edgebert.core.config import ModelConfig, load_model_config

CATEGORIES = ("random", "tokens", "thresholds", "saturation", "entropy", "shipped")
WEIGHTS = (0.35, 0.14, 0.14, 0.23, 0.13, 0.01)
GROUP_SIZE = {"shipped": 2}                  # cases per task; the large shapes are slow to run
DEFAULT_GROUP = 24
SHIPPED = ("tiny", "edge", "paper")
SPECIAL_IDS = (0, 100, 101, 102, 103)        # [PAD], [UNK], [CLS], [SEP], [MASK]
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
STOPS = ("last", "edgebert", "binned", "random", "none")


@dataclass
class Case:
    """One phase-1 + phase-2 call sequence. `threshold_h1`: the threshold is the golden H1 plus
    this offset (resolved by the runner); `stop`: phase 2's stop layer, a policy or a layer
    (`none`: phase 1 only, even when the sentence does not exit)."""
    index: int
    category: str
    ids: list[int]
    types: list[int]
    threshold: int
    stop: str | int
    threshold_h1: int | None = None


@dataclass
class Group:
    index: int
    category: str
    start: int                               # index of its first case
    size: int
    task: HwTask | None = None
    cases: list[Case] = field(default_factory=list)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in key])


def group_plan(seed: int, g: int) -> tuple[str, int]:
    """(category, number of cases) of group g: cheap, so that case indices map to groups. The
    first groups take each category in turn, so that a short run covers them all."""
    category = CATEGORIES[g] if g < len(CATEGORIES) else str(_rng(seed, g, 0).choice(CATEGORIES, p=WEIGHTS))
    return category, GROUP_SIZE.get(category, DEFAULT_GROUP)


def groups(seed: int, n: int):
    """The groups that hold cases 0..n-1 (the last one cut to n); tasks not built yet."""
    start, g = 0, 0
    while start < n:
        category, size = group_plan(seed, g)
        size = min(size, n - start)
        yield Group(g, category, start, size)
        start, g = start + size, g + 1


def find_case(seed: int, index: int) -> tuple[Group, Case]:
    """The group (with its task) and the case of a case index."""
    for grp in groups(seed, index + 1):
        if grp.start <= index < grp.start + grp.size:
            grp = build_group(seed, Group(grp.index, grp.category, grp.start, index - grp.start + 1))
            return grp, grp.cases[-1]
    raise ValueError(f"no case {index}")


def build_group(seed: int, grp: Group) -> Group:
    rng = _rng(seed, grp.index, 1)
    cfg = _config(rng, grp.category)
    grp.task = random_task(cfg, rng, grp.category)
    grp.cases = [_case(_rng(seed, grp.index, 2, i), grp.task, grp.category, grp.start + i) for i in range(grp.size)]
    return grp


# ---- shapes ----------------------------------------------------------------------------------
def _config(rng, category: str) -> ModelConfig:
    if category == "shipped":
        return replace(load_model_config(str(rng.choice(SHIPPED, p=(0.5, 0.3, 0.2)))),
                       num_labels=int(rng.integers(2, MAX_CLASSES + 1)))
    heads = int(rng.integers(1, 5))
    ints = lambda lo, hi: int(rng.integers(lo, hi + 1))
    vocab = ints(1, 48) if rng.random() < 0.7 or category != "tokens" else ints(104, 400)
    return ModelConfig(
        "fuzz", vocab_size=vocab, embed_dim=ints(1, 10), hidden=heads * ints(1, 5), heads=heads, ffn=ints(1, 20),
        layers=ints(2, MAX_LAYERS), max_len=ints(1, 12) if rng.random() < 0.9 else ints(13, LIMIT_DEFAULTS["EB_MAX_LEN"]),
        span_ramp=1, num_labels=ints(2, MAX_CLASSES), type_vocab=ints(1, MAX_TYPES),
        layer_norm_eps=float(10 ** rng.uniform(-9, -1)) if rng.random() < 0.3 else 1e-5)


@lru_cache(maxsize=1)
def _tables() -> dict[str, np.ndarray]:
    return fn.tables()


def _shapes(cfg: ModelConfig) -> dict[str, tuple[int, int]]:
    h, e, f = cfg.hidden, cfg.embed_dim, cfg.ffn
    shapes = {"embed_proj": (h, e), "layer.q": (h, h), "layer.k": (h, h), "layer.v": (h, h), "layer.o": (h, h),
              "layer.ffn1": (f, h), "layer.ffn2": (h, f), "position": (cfg.max_len, e),
              "token_type": (cfg.type_vocab, e)}
    for l in range(cfg.layers):
        shapes[f"ramps.{l}.pooler"] = (h, h)
        shapes[f"ramps.{l}.classifier"] = (cfg.num_labels, h)
    return shapes


# ---- tasks -----------------------------------------------------------------------------------
def random_task(cfg: ModelConfig, rng: np.random.Generator, category: str = "random") -> HwTask:
    """A task of shape `cfg` with random codes, vectors, spans and predictor tables. `saturation`
    and `entropy` push values to the ends of their ranges; the rest look like exported weights
    (AdaptivFloat codes of normal weights, 20-80 % of them pruned)."""
    extreme = category == "saturation"
    knobs = {k: extreme and rng.random() < 0.5 for k in ("codes", "bias", "fracs", "vectors", "gains")}
    formats = {s: int(rng.integers(0, 16)) if knobs["fracs"] else int(rng.integers(7, 14)) for s in SITES}
    matrices = {name: _matrix(rng, shape, knobs["codes"], knobs["bias"]) for name, shape in _shapes(cfg).items()}
    vectors = {}
    for name, (rows, _) in _shapes(cfg).items():
        if name not in ("position", "token_type"):
            vectors[f"{name}.bias"] = _vector(rng, rows, 15 if knobs["vectors"] else 9)
    for ln, width in (("embed_ln", cfg.embed_dim), ("layer.ln1", cfg.hidden), ("layer.ln2", cfg.hidden)):
        vectors[f"{ln}.gain"] = _gains(rng, width, knobs["gains"])
        vectors[f"{ln}.beta"] = _vector(rng, width, 15 if knobs["vectors"] else 8)
    if category == "entropy":
        _entropy_ramps(rng, cfg, formats, matrices, vectors)
    if extreme and rng.random() < 0.3:
        # V = its bias at the edge of the format: the context P V then clips where the rounded
        # probabilities of a row sum above 1.
        matrices["layer.v"].codes[:] = 0
        vectors["layer.v.bias"][:] = rng.choice([-32768, 32767])
    word = _matrix(rng, (cfg.vocab_size, cfg.embed_dim), knobs["codes"], knobs["bias"])
    return HwTask("fuzz", cfg, formats, 0.3, matrices, vectors, _span_mask(rng, cfg), _predictor(rng, cfg),
                  _binned(rng, cfg), word, _tables())


def _matrix(rng, shape, max_codes: bool, any_bias: bool) -> AfTensor:
    rows, cols = shape
    if rows * cols > 1 << 16:                 # the large shapes: codes drawn directly, fast
        e = np.clip(np.rint(rng.normal(3.5, 1.3, size=shape)), 0, 7).astype(np.uint8)
        codes = (rng.integers(0, 2, size=shape, dtype=np.uint8) << 7) | (e << 4) | rng.integers(0, 16, size=shape,
                                                                                               dtype=np.uint8)
    else:
        w = rng.normal(size=shape) / np.sqrt(max(cols, 1))
        codes, _ = af.encode(w, af.choose_bias(w))
    if max_codes:                             # the largest word, +-3968
        codes = np.where(rng.random(shape) < 0.5, 0x7F, 0xFF).astype(np.uint8)
    codes = np.where(rng.random(shape) < rng.uniform(0.2, 0.8), codes, 0).astype(np.uint8)
    codes[af.is_zero(codes)] = 0              # the reserved zero is stored as code 0 (bitmask)
    bias = int(rng.integers(af.BIAS_MIN, af.BIAS_MAX + 1)) if any_bias else int(rng.integers(2, 5))
    return AfTensor(codes, bias)


def _vector(rng, size: int, bits: int) -> np.ndarray:
    v = rng.integers(-(1 << bits), 1 << bits, size=size)
    if bits == 15 and size:
        v[rng.random(size) < 0.3] = rng.choice([-32768, 32767])
    return np.clip(v, -32768, 32767).astype(np.int64)


def _gains(rng, width: int, extreme: bool) -> np.ndarray:
    """gamma sqrt(W) in Q.16 (int32 words); extreme: up to the full int32 range."""
    if extreme:
        return rng.choice([INT32_MIN, INT32_MAX, 1 << 30, -(1 << 30), 0], size=width).astype(np.int64)
    return np.floor(rng.normal(1.0, 0.3, size=width) * np.sqrt(width) * 2 ** fn.LN_GAIN_FRAC + 0.5).astype(np.int64)


def _entropy_ramps(rng, cfg, formats, matrices, vectors) -> None:
    """Every off-ramp's logits equal (zero classifier, one bias), or far apart (the largest
    words and biases, logit fraction 0 or 15)."""
    equal = rng.random() < 0.5
    formats["logit"] = int(rng.choice([0, 15])) if not equal else formats["logit"]
    for l in range(cfg.layers):
        m = matrices[f"ramps.{l}.classifier"]
        if equal:
            m.codes[:] = 0
            vectors[f"ramps.{l}.classifier.bias"][:] = int(rng.integers(-32768, 32768))
        else:
            m.codes[:] = np.where(rng.random(m.codes.shape) < 0.5, 0x7F, 0xFF)
            m.bias = int(rng.integers(af.BIAS_MIN, af.BIAS_MAX + 1))
            vectors[f"ramps.{l}.classifier.bias"][:] = rng.choice([-32768, 32767, 0], size=cfg.num_labels)


def _span_mask(rng, cfg) -> np.ndarray:
    """Per head: full, dead (span 0), a ramp down to zero, or random UQ1.15 words."""
    d = np.arange(cfg.max_len)
    rows = []
    for _ in range(cfg.heads):
        kind = rng.choice(4, p=(0.35, 0.15, 0.3, 0.2))
        if kind == 0:
            rows.append(np.full(cfg.max_len, fn.PROB_ONE))
        elif kind == 1:
            rows.append(np.zeros(cfg.max_len, dtype=np.int64))
        elif kind == 2:
            end, ramp = rng.uniform(0, cfg.max_len), rng.uniform(1, 8)
            rows.append(np.floor(np.clip((end - d) / ramp, 0, 1) * fn.PROB_ONE + 0.5).astype(np.int64))
        else:
            rows.append(rng.integers(0, fn.PROB_ONE + 1, size=cfg.max_len))
    return np.array(rows, dtype=np.int64)


def _predictor(rng, cfg) -> np.ndarray:
    table = np.sort(rng.integers(0, 60000, size=(ROWS, cfg.layers - 2)), axis=1)[:, ::-1]
    if rng.random() < 0.2:
        table = rng.choice([INT32_MIN, -1, 0, 1, INT32_MAX], size=table.shape)
    return np.ascontiguousarray(table, dtype=np.int64)


def _binned(rng, cfg) -> Binned:
    bins = rng.integers(2, cfg.layers + 1, size=(H_BINS, LEN_BINS, MAX_CLASSES)).astype(np.uint8)
    return Binned(bins, np.sort(rng.integers(0, cfg.max_len + 2, size=LEN_BINS - 1)))


# ---- sentences, thresholds, stops ------------------------------------------------------------
def _case(rng, task: HwTask, category: str, index: int) -> Case:
    cfg = task.cfg
    if category == "tokens":
        n = int(rng.choice([1, cfg.max_len, rng.integers(1, cfg.max_len + 1)]))
        pool = [i for i in {0, 1, cfg.vocab_size - 1, *SPECIAL_IDS} if i < cfg.vocab_size]
        ids = rng.choice(pool, size=n) if rng.random() < 0.7 else rng.integers(0, cfg.vocab_size, size=n)
    else:
        top = min(cfg.max_len, 16) if category == "shipped" and rng.random() < 0.9 else cfg.max_len
        n = int(rng.integers(1, top + 1))
        ids = rng.integers(0, cfg.vocab_size, size=n)
    kind = rng.integers(0, 4) if cfg.type_vocab > 1 else 0
    types = [np.zeros(n), np.ones(n), np.arange(n) >= rng.integers(0, n + 1), rng.integers(0, 2, size=n)][kind]
    threshold, h1 = _threshold(rng, task, category)
    threshold = min(max(threshold, INT32_MIN), INT32_MAX)          # a 32-bit register
    stop = str(rng.choice(STOPS, p=(0.4, 0.2, 0.15, 0.15, 0.1)))
    if stop == "random":
        stop = int(rng.integers(2, cfg.layers + 1))
    return Case(index, category, [int(i) for i in ids], [int(t) for t in types], threshold, stop, h1)


def _threshold(rng, task: HwTask, category: str) -> tuple[int, int | None]:
    """(threshold, offset from H1 or None). Entropies are >= 0: 0 and below never exit."""
    if category == "thresholds":
        kind = rng.integers(0, 4)
        if kind == 0:
            return int(rng.choice([0, -1, 1, INT32_MIN, INT32_MAX])), None
        if kind == 1:
            return 0, int(rng.integers(-1, 2))
        if kind == 2:
            return int(rng.choice(task.predictor.ravel())) + int(rng.integers(-1, 2)) if task.predictor.size else 0, None
        return (int(rng.integers(0, H_BINS)) << H_SHIFT) + int(rng.integers(-1, 2)), None
    kind = rng.choice(5, p=(0.35, 0.25, 0.2, 0.12, 0.08))
    if kind == 3:
        return 0, int(rng.integers(-1, 2))
    return int([rng.integers(-1, 1), rng.integers(0, 1 << 17), rng.integers(1 << 13, 1 << 16), 0, INT32_MAX][kind]), None
