"""The golden model: the whole accelerator in numpy integer arithmetic, bit for bit.

It reads the export artifact (integer codes, words and tables only, no float weights) and
computes what the HLS top function computes, in the same order with the same roundings:
embedding decode, E -> H projection, the shared layer used up to L times, off-ramps, entropy,
exit gate and predictor table, in two phases (phase 1: embed + layer 1 + prediction; phase 2:
the remaining layers). It also counts the work of each phase for the cost model, and the MACs
with a zero operand (`gated_macs`) exactly as the hardware's counter does.

Matrix products go through float64 BLAS, which is exact here (every partial sum < 2^53, see
`numerics.fixed.matmul_exact`); everything else is int64. The products are small, so BLAS runs
single-threaded (its thread start-up costs more than the work, and far more when the cores are
busy).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from edgebert.accel.numerics import functions as fn
from edgebert.accel.numerics.adaptivfloat import BIAS_MIN, FIXED_SHIFT
from edgebert.accel.numerics.fixed import Saturations, act, matmul_exact, requantize
from edgebert.accel.predictor import ROWS


@dataclass
class Phase1:
    hidden: np.ndarray          # layer-1 output words (n, H), kept on chip for phase 2
    logits: np.ndarray          # layer-1 off-ramp logits (words)
    entropy: int                # Q.16
    exit_now: bool
    predicted_layer: int        # EdgeBERT's table
    predicted_binned: int       # the binned predictor


@dataclass
class Result:
    logits: np.ndarray                     # words in the logit format
    exit_layer: int                        # 1-based
    entropies: list[int]                   # Q.16, one per layer run
    predicted_layer: int
    ops: dict[str, Counter] = field(default_factory=dict)   # per phase
    saturations: Counter = field(default_factory=Counter)
    predicted_binned: int = 0


class GoldenModel:
    def __init__(self, task):
        """`task` is an `export.HwTask` (one task of a loaded artifact)."""
        self.t = task
        self.cfg = task.cfg
        self.fmt = {site: act(f) for site, f in task.formats.items()}
        self.frac = dict(task.formats)
        tables = ("position", "token_type")
        self.w = {name: (t.words().astype(np.float64), t.bias)
                  for name, t in task.matrices.items() if name not in tables}
        self.w_bytes = {name: t.stored_bytes() for name, t in task.matrices.items()}
        # Position and type rows as exact words at the scale 2^(BIAS_MIN - 14), where every
        # bias's words are integers (value = word * 2^(bias - 14)).
        self.pos_lo, self.type_lo = (task.matrices[n].words() << (task.matrices[n].bias - BIAS_MIN) for n in tables)
        self.tabs = task.tables
        self.eps_emb = fn.layernorm_eps(self.cfg.layer_norm_eps, self.cfg.embed_dim, self.frac["emb"])
        self.eps_hid = fn.layernorm_eps(self.cfg.layer_norm_eps, self.cfg.hidden, self.frac["hidden"])
        self.sat = Saturations()
        self.ops = Counter()
        self.acc_shapes: dict[str, tuple[int, int]] = {}   # matrix -> (K, requantization shift)

    # ---- operators ----------------------------------------------------------------------
    def linear(self, x: np.ndarray, x_frac: int, name: str, site: str) -> np.ndarray:
        words, af_bias = self.w[name]
        self.ops["macs"] += x.shape[0] * words.shape[0] * words.shape[1]
        self.ops["gated_macs"] += gated_macs(x, words.T)
        self.ops["act_reads"] += x.size
        self.ops["act_writes"] += x.shape[0] * words.shape[0]
        self.ops["weight_buffer_bytes"] += self.w_bytes[name]
        acc = matmul_exact(x, words.T)
        self.acc_shapes[name] = (words.shape[1], x_frac + FIXED_SHIFT - af_bias - self.frac[site])
        return requantize(acc, x_frac + FIXED_SHIFT - af_bias, self.fmt[site], self.sat, site,
                          self.t.vectors.get(f"{name}.bias"))

    def layernorm(self, x: np.ndarray, prefix: str, site: str) -> np.ndarray:
        eps = self.eps_emb if site == "emb" else self.eps_hid
        self.ops["sfu"] += x.size
        return fn.layernorm(x, self.frac[site], self.t.vectors[f"{prefix}.gain"],
                            self.t.vectors[f"{prefix}.beta"], eps, self.fmt[site], self.sat, site)

    def residual(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.ops["sfu"] += a.size
        return self.sat.clip(a + b, self.fmt["hidden"], "residual")

    def embed(self, ids: np.ndarray, types: np.ndarray) -> np.ndarray:
        """Word + position + type rows, decoded to one exact sum, then the emb format."""
        word = self.t.word_table
        total = (word.words(ids) << (word.bias - BIAS_MIN)) + self.pos_lo[: len(ids)] + self.type_lo[types]
        self.ops["offchip_bytes"] += word.row_bytes(ids)
        e = requantize(total, FIXED_SHIFT - BIAS_MIN, self.fmt["emb"], self.sat, "emb")
        e = self.layernorm(e, "embed_ln", "emb")
        return self.linear(e, self.frac["emb"], "embed_proj", "hidden")

    def attention(self, x: np.ndarray) -> np.ndarray:
        cfg, f = self.cfg, self.frac
        n, nh, d = x.shape[0], cfg.heads, cfg.head_dim
        heads = lambda t: t.reshape(n, nh, d).transpose(1, 0, 2)          # (heads, n, d)
        q = heads(self.linear(x, f["hidden"], "layer.q", "q"))
        k = heads(self.linear(x, f["hidden"], "layer.k", "k"))
        v = heads(self.linear(x, f["hidden"], "layer.v", "v"))
        live = self.t.live_heads
        scores = requantize(matmul_exact(q[live], k[live].transpose(0, 2, 1)), f["q"] + f["k"],
                            self.fmt["score"], self.sat, "score")
        probs = fn.softmax(scores, f["score"], self.tabs["exp2"])
        dist = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
        probs = fn.apply_span_mask(probs, self.t.span_mask[live][:, dist])
        ctx = np.zeros((nh, n, d), dtype=np.int64)
        ctx[live] = requantize(matmul_exact(probs, v[live]), fn.PROB_FRAC + f["v"], self.fmt["v"],
                               self.sat, "ctx")
        self.ops["macs"] += 2 * len(live) * n * n * d
        self.ops["gated_macs"] += gated_macs(q[live], k[live].transpose(0, 2, 1)) + gated_macs(probs, v[live])
        self.ops["sfu"] += 2 * len(live) * n * n
        self.ops["act_reads"] += 3 * len(live) * n * d + 2 * len(live) * n * n
        self.ops["act_writes"] += len(live) * n * (n + d)
        return self.linear(ctx.transpose(1, 0, 2).reshape(n, nh * d), f["v"], "layer.o", "hidden")

    def layer(self, x: np.ndarray) -> np.ndarray:
        f = self.frac
        x = self.layernorm(self.residual(x, self.attention(x)), "layer.ln1", "hidden")
        h = self.linear(x, f["hidden"], "layer.ffn1", "ffn")
        self.ops["sfu"] += h.size
        h = fn.gelu(h, f["ffn"], self.fmt["ffn"], self.tabs["gelu"], self.sat)
        h = self.linear(h, f["ffn"], "layer.ffn2", "hidden")
        return self.layernorm(self.residual(x, h), "layer.ln2", "hidden")

    def off_ramp(self, x: np.ndarray, index: int) -> tuple[np.ndarray, int]:
        f = self.frac
        pooled = self.linear(x[:1], f["hidden"], f"ramps.{index}.pooler", "pool")
        t = fn.tanh(pooled, f["pool"], self.tabs["tanh"])
        logits = self.linear(t, fn.TANH_FRAC, f"ramps.{index}.classifier", "logit")[0]
        self.ops["sfu"] += pooled.size + logits.size
        return logits, int(fn.entropy(logits[None], f["logit"], self.tabs)[0])

    def predict(self, h1: int, threshold: int) -> int:
        return predict_exit_layer(h1, threshold, self.t.predictor, self.cfg.layers)

    # ---- the two phases -------------------------------------------------------------------
    def _take_ops(self) -> Counter:
        ops, self.ops = self.ops, Counter()
        return ops

    def phase1(self, ids, types, threshold: int) -> tuple[Phase1, Counter]:
        ids, types = np.asarray(ids, dtype=np.int64), np.asarray(types, dtype=np.int64)
        self._check_input(ids, types)
        x = self.layer(self.embed(ids, types))
        logits, h1 = self.off_ramp(x, 0)
        binned = self.t.binned.predict(h1, len(ids), int(np.argmax(logits)), threshold)
        return Phase1(x, logits, h1, h1 < threshold, self.predict(h1, threshold), binned), self._take_ops()

    def phase2(self, p1: Phase1, threshold: int, stop_layer: int) -> tuple[np.ndarray, int, list[int], Counter]:
        """Layers 2..stop_layer, still leaving at the first entropy below the threshold."""
        if not 2 <= stop_layer <= self.cfg.layers:
            raise ValueError(f"phase 2 stop layer {stop_layer} is outside 2..{self.cfg.layers}")
        x, entropies, logits = p1.hidden, [], p1.logits
        for layer in range(2, stop_layer + 1):
            x = self.layer(x)
            logits, h = self.off_ramp(x, layer - 1)
            entropies.append(h)
            if h < threshold:
                break
        return logits, layer, entropies, self._take_ops()

    def run(self, ids, types, threshold: int | None = None, use_predictor: bool = False,
            early_exit: bool = True) -> Result:
        """One sentence through both phases. Without early exit every layer runs."""
        with threadpool_limits(1, "blas"):
            return self._run(ids, types, threshold, use_predictor, early_exit)

    def _run(self, ids, types, threshold, use_predictor, early_exit) -> Result:
        self.sat = Saturations()
        t = self.t.threshold_q16 if threshold is None else int(threshold)
        gate = t if early_exit else -1                   # entropies are >= 0: never below -1
        p1, ops1 = self.phase1(ids, types, gate)
        if p1.exit_now:
            return Result(p1.logits, 1, [p1.entropy], 1, {"phase1": ops1}, Counter(self.sat), 1)
        stop = p1.predicted_layer if use_predictor else self.cfg.layers
        logits, layer, ent, ops2 = self.phase2(p1, gate, max(stop, 2))
        return Result(logits, layer, [p1.entropy] + ent, p1.predicted_layer,
                      {"phase1": ops1, "phase2": ops2}, Counter(self.sat), p1.predicted_binned)

    def _check_input(self, ids: np.ndarray, types: np.ndarray) -> None:
        n = len(ids)
        if n == 0:
            raise ValueError("empty sentence: the accelerator needs at least one token")
        if n > self.cfg.max_len:
            raise ValueError(f"sentence of {n} tokens exceeds the accelerator's max_len {self.cfg.max_len}")
        if types.shape != ids.shape:
            raise ValueError("token types and ids differ in length")
        if ids.min() < 0 or ids.max() >= self.cfg.vocab_size:
            raise ValueError(f"token id outside 0..{self.cfg.vocab_size - 1}")
        if types.min() < 0 or types.max() >= self.cfg.type_vocab:
            raise ValueError(f"token type outside 0..{self.cfg.type_vocab - 1}")

    def trace(self, ids, types, hidden: list | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every layer's off-ramp logits (L, classes) and entropies (L,), no early exit. Off-ramps
        do not feed back, so any exit decision can be read off this trace. A `hidden` list
        receives each layer's output as real values (for comparisons with torch)."""
        self.sat = Saturations()
        ids, types = np.asarray(ids, dtype=np.int64), np.asarray(types, dtype=np.int64)
        self._check_input(ids, types)
        logits, ents, gated = [], [], []
        self.ops = Counter()
        with threadpool_limits(1, "blas"):
            x = self.embed(ids, types)
            for layer in range(self.cfg.layers):
                x = self.layer(x)
                if hidden is not None:
                    hidden.append(x / 2.0 ** self.frac["hidden"])
                z, h = self.off_ramp(x, layer)
                logits.append(z)
                ents.append(h)
                gated.append(self.ops["gated_macs"])
        # Gated MACs of a run that leaves after layer l (embedding, layers and off-ramps 1..l):
        # what the accelerator's two phases count together for that exit.
        self.gated_to_layer = np.array(gated, dtype=np.int64)
        self.ops = Counter()
        return np.array(logits), np.array(ents, dtype=np.int64)


def gated_macs(a: np.ndarray, b: np.ndarray) -> int:
    """MACs of a @ b ((..., M, K) @ (..., K, C)) with a zero operand, each counted once: all
    M C K MACs less the (i, j, k) whose a[i, k] and b[k, j] are both non-zero. The MAC array
    clock-gates exactly these (eb_mac.h); the count needs no product."""
    both = (np.count_nonzero(a, axis=-2) * np.count_nonzero(b, axis=-1)).sum()
    return int(a.size * b.shape[-1] - both)


def predict_exit_layer(h1: int, threshold: int, table: np.ndarray, layers: int) -> int:
    """EdgeBERT's table: the row nearest to H1 (0.01 steps), then the first later layer whose
    predicted entropy is below the threshold; layer 1 when H1 itself is below it."""
    if h1 < threshold:
        return 1
    row = min(ROWS - 1, (h1 * 100 + (1 << 15)) >> 16)
    below = np.flatnonzero(table[row] < threshold)
    return int(below[0]) + 2 if below.size else layers


def evaluate_set(model: GoldenModel, encoded, threshold_q16: int, progress: bool = True) -> dict:
    """Every sentence's per-layer logits (real), entropies (real, exactly the Q.16 words / 2^16),
    predicted exit layer of both predictors and gated MACs up to each exit layer, plus the
    saturation counts."""
    L, C = model.cfg.layers, model.cfg.num_labels
    logits = np.zeros((len(encoded), L, C))
    ents = np.zeros((len(encoded), L))
    predicted = np.zeros(len(encoded), dtype=np.int64)
    binned = np.zeros(len(encoded), dtype=np.int64)
    gated = np.zeros((len(encoded), L), dtype=np.int64)
    sat = Counter()
    for i, e in enumerate(tqdm(encoded, desc="golden model", unit="sentence", disable=not progress)):
        z, h = model.trace(e.ids, e.token_types)
        logits[i], ents[i] = z / 2.0 ** model.frac["logit"], h / 2.0 ** fn.ENTROPY_FRAC
        gated[i] = model.gated_to_layer
        predicted[i] = model.predict(int(h[0]), threshold_q16)
        binned[i] = model.t.binned.predict(int(h[0]), len(e.ids), int(np.argmax(z[0])), threshold_q16)
        sat.update(model.sat)
    return {"logits": logits, "entropies": ents, "predicted": predicted, "predicted_binned": binned,
            "saturations": dict(sat),
            "gated_macs_to_layer": gated}
