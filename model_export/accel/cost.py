"""The accelerator's analytic cost model: clock cycles, MACs and DDR words per operator and per
phase, from the dimensions, the array size n and the schedule constants of the interface
(interface.py, which generates them for the C++ as well). It equals the C-simulation's
instrumented counters exactly for the same schedule.

Per operator (n x n output-stationary MAC array; an n-lane special function unit):
    matmul (M x K) (K x C):  ceil(M/n) ceil(C/n) (K + n) + MAC_PIPE
    softmax, per row of W:   3 ceil(W/n) + DIV
    LayerNorm, per row of W: 3 ceil(W/n) + ISQRT + DIV
    entropy of C logits:     2 C + LOG + DIV
    embedding row fetch:     2 AXI_LATENCY + 1 + record words + ceil(E/n)
    off-ramp fetch (builds with the off-ramps in DDR), per matrix: AXI_LATENCY + record words
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from edgebert.accel.interface import LIMIT_DEFAULTS, SCHEDULE
from edgebert.core.config import ModelConfig

MAC_PIPE = SCHEDULE["mac_pipe"]
SOFTMAX_PASSES = SCHEDULE["softmax_passes"]
LAYERNORM_PASSES = SCHEDULE["layernorm_passes"]
DIV_CYCLES = SCHEDULE["div_cycles"]
ISQRT_CYCLES = SCHEDULE["isqrt_cycles"]
LOG_CYCLES = SCHEDULE["log_cycles"]
AXI_LATENCY = SCHEDULE["axi_latency"]
BINNED_CYCLES = SCHEDULE["binned_cycles"]


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


# ---- operators ------------------------------------------------------------------------------
def matmul_cycles(m: int, cols: int, k: int, n: int) -> int:
    return cdiv(m, n) * cdiv(cols, n) * (k + n) + MAC_PIPE


def softmax_cycles(rows: int, width: int, n: int) -> int:
    return rows * (SOFTMAX_PASSES * cdiv(width, n) + DIV_CYCLES)


def layernorm_cycles(rows: int, width: int, n: int) -> int:
    return rows * (LAYERNORM_PASSES * cdiv(width, n) + ISQRT_CYCLES + DIV_CYCLES)


def entropy_cycles(classes: int) -> int:
    return 2 * classes + LOG_CYCLES + DIV_CYCLES


def embed_row_cycles(record_words: int, embed_dim: int, n: int) -> int:
    return 2 * AXI_LATENCY + 1 + record_words + cdiv(embed_dim, n)


# ---- the layer engine -----------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    cfg: ModelConfig
    n: int = LIMIT_DEFAULTS["EB_N"]
    live_heads: int | None = None          # heads with a non-zero span (default: all)
    # Builds that keep the off-ramps in DDR fetch each layer's pooler and classifier records:
    # their lengths in words, two per layer (edgebert.accel.images.ramp_record_words); None: on chip.
    ramp_words: tuple | None = None

    @property
    def heads(self) -> int:
        return self.cfg.heads if self.live_heads is None else self.live_heads

    def layer(self, s: int) -> Counter:
        """One use of the shared encoder layer on s tokens."""
        n, h, f, d = self.n, self.cfg.hidden, self.cfg.ffn, self.cfg.head_dim
        out = Counter()
        out["linear"] = 4 * matmul_cycles(s, h, h, n) + matmul_cycles(s, f, h, n) + matmul_cycles(s, h, f, n)
        out["attention"] = self.heads * (matmul_cycles(s, s, d, n) + matmul_cycles(s, d, s, n))
        out["softmax"] = self.heads * softmax_cycles(s, s, n)
        out["layernorm"] = 2 * layernorm_cycles(s, h, n)
        out["macs"] = s * (4 * h * h + 2 * h * f) + self.heads * 2 * s * s * d
        return out

    def off_ramp(self, layer: int | None = None) -> Counter:
        """Off-ramp `layer` (0-based); the fetch from DDR is counted when the build has one."""
        h, k = self.cfg.hidden, self.cfg.num_labels
        out = Counter({"offramp": matmul_cycles(1, h, h, self.n) + matmul_cycles(1, k, h, self.n)
                       + entropy_cycles(k), "macs": h * h + k * h})
        if self.ramp_words is not None and layer is not None:
            words = self.ramp_words[2 * layer] + self.ramp_words[2 * layer + 1]
            out["offramp"] += 2 * AXI_LATENCY + words
            out["offchip_words"] += words
        return out

    def embed(self, record_words) -> Counter:
        """Embedding of tokens whose DDR records are `record_words` words long, its LayerNorm and
        the E -> H projection."""
        e, s = self.cfg.embed_dim, len(record_words)
        return Counter({"embed": sum(embed_row_cycles(int(w), e, self.n) for w in record_words),
                        "offchip_words": sum(1 + int(w) for w in record_words),
                        "layernorm": layernorm_cycles(s, e, self.n),
                        "linear": matmul_cycles(s, self.cfg.hidden, e, self.n),
                        "macs": s * e * self.cfg.hidden})

    def phase1(self, record_words) -> Counter:
        out = self.embed(record_words) + self.layer(len(record_words)) + self.off_ramp(0)
        out["offramp"] += 1 + (self.cfg.layers - 2) + BINNED_CYCLES   # exit gate + both predictors
        return _total(out)

    def phase2(self, s: int, layers_run: int) -> Counter:
        """Layers 2 .. 1 + layers_run, each with its off-ramp and exit-gate compare."""
        out = Counter()
        for i in range(layers_run):
            out += self.layer(s) + self.off_ramp(1 + i)
            out["offramp"] += 1
        return _total(out)

    def sfu_elements(self, s: int, layers: int, embed: bool) -> Counter:
        """Special-function elements of a phase: softmax, LayerNorm, GELU (per layer), tanh and
        entropy (per off-ramp), the embedding LayerNorm (phase 1)."""
        c = self.cfg
        return Counter({"softmax": layers * self.heads * s * s,
                        "layernorm": layers * 2 * s * c.hidden + (s * c.embed_dim if embed else 0),
                        "gelu": layers * s * c.ffn, "tanh": layers * c.hidden,
                        "entropy": layers * c.num_labels})

    def attention_macs(self, s: int, layers: int) -> int:
        return layers * self.heads * 2 * s * s * self.cfg.head_dim

    def offramp_macs(self, layers: int) -> int:
        return layers * (self.cfg.hidden ** 2 + self.cfg.num_labels * self.cfg.hidden)

    def phase1_cycles(self, record_words) -> int:
        """phase1(record_words)["cycles"], fast: the per-token fetch plus a per-length cache."""
        e = self.cfg.embed_dim
        return sum(embed_row_cycles(int(w), e, self.n) for w in record_words) + self._phase1_rest(len(record_words))

    @lru_cache(maxsize=None)
    def _phase1_rest(self, s: int) -> int:
        whole = self.phase1([0] * s)
        return int(whole["cycles"] - whole["embed"])

    def phase2_cycles(self, s: int, layers_run: int) -> int:
        """phase2(s, layers_run)["cycles"], from a per-length cache (the DVFS decision needs it
        per sentence, fast)."""
        return layers_run * self._layer_step(s) + self._ramp_fetch(layers_run)

    @lru_cache(maxsize=None)
    def _ramp_fetch(self, layers_run: int) -> int:
        """Fetch cycles of off-ramps 1..layers_run (0 when they are on chip)."""
        if self.ramp_words is None:
            return 0
        return sum(2 * AXI_LATENCY + self.ramp_words[2 * l] + self.ramp_words[2 * l + 1]
                   for l in range(1, layers_run + 1))

    def warm(self) -> "Schedule":
        """Fill the per-length cache for every sentence length (once, ~25 ms)."""
        for s in range(1, self.cfg.max_len + 1):
            self._layer_step(s)
        return self

    @lru_cache(maxsize=None)
    def _layer_step(self, s: int) -> int:
        c = self.layer(s) + self.off_ramp()
        return int(sum(c[k] for k in PHASE_CYCLES)) + 1

    def layer_report(self, s: int | None = None) -> dict:
        """One layer with its off-ramp at s tokens (default max_len) against the ideal
        MAC-bound count MACs / n^2 (docs/design.md section 8.1: 3.64 M cycles for ALBERT-base at n = 16)."""
        s = self.cfg.max_len if s is None else s
        body = self.layer(s) + self.off_ramp(1)
        body["offramp"] += 1
        body = _total(body)
        ideal = self.layer(s)["macs"] / self.n ** 2
        return {"config": self.cfg.name, "n": self.n, "tokens": s, "live_heads": self.heads,
                "ideal_cycles_per_layer": ideal, "modeled_cycles_per_layer": body["cycles"],
                "mac_utilization": ideal / body["cycles"],
                "breakdown": {k: body[k] for k in PHASE_CYCLES}, "macs_per_layer": body["macs"]}


PHASE_CYCLES = ("linear", "attention", "softmax", "layernorm", "embed", "offramp")


def _total(c: Counter) -> Counter:
    c["cycles"] = sum(c[k] for k in PHASE_CYCLES)
    return c


# ---- per operator: a finer split of the same counters (edgebert characterize) ---------------
# The six GEMMs of a layer and the E -> H projection, in the order a layer runs them.
GEMM_OPERATORS = ("qkv", "qk_t", "av", "out_proj", "ffn1", "ffn2", "embed_proj")
OPERATORS = GEMM_OPERATORS + ("softmax", "layernorm", "gelu", "residual_add", "embedding", "offramp", "entropy")
# The phase counter each operator's cycles belong to; GELU and the residual add run on the
# matmul drain path (docs/hardware.md, "Schedule and cycle model") and own no cycles.
OPERATOR_PHASE = {"qkv": "linear", "qk_t": "attention", "av": "attention", "out_proj": "linear",
                  "ffn1": "linear", "ffn2": "linear", "embed_proj": "linear", "softmax": "softmax",
                  "layernorm": "layernorm", "gelu": None, "residual_add": None, "embedding": "embed",
                  "offramp": "offramp", "entropy": "offramp"}


def layer_matmuls(sched: Schedule, s: int) -> dict[str, tuple[int, int, int, int]]:
    """The matmuls of one layer at s tokens: operator -> (count, M, C, K) of (M x K)(K x C)."""
    h, f, d, heads = sched.cfg.hidden, sched.cfg.ffn, sched.cfg.head_dim, sched.heads
    return {"qkv": (3, s, h, h), "qk_t": (heads, s, s, d), "av": (heads, s, d, s), "out_proj": (1, s, h, h),
            "ffn1": (1, s, f, h), "ffn2": (1, s, h, f)}


def offramp_matmuls(sched: Schedule) -> dict[str, tuple[int, int, int, int]]:
    """Pooler (H -> H on token 0) and classifier (H -> classes) of one off-ramp."""
    h = sched.cfg.hidden
    return {"pooler": (1, 1, h, h), "classifier": (1, 1, sched.cfg.num_labels, h)}


def _gemm(count: int, m: int, cols: int, k: int, n: int) -> Counter:
    return Counter({"cycles": count * matmul_cycles(m, cols, k, n), "macs": count * m * cols * k})


def layer_operators(sched: Schedule, s: int) -> dict[str, Counter]:
    """One encoder layer at s tokens per operator: cycles, MACs and special-function elements.
    Grouped by OPERATOR_PHASE the cycles equal `sched.layer(s)`; the SFU elements equal
    `sched.sfu_elements(s, 1, False)` less the off-ramp's."""
    c, n = sched.cfg, sched.n
    ops = {op: _gemm(*shape, n) for op, shape in layer_matmuls(sched, s).items()}
    ops["softmax"] = Counter({"cycles": sched.heads * softmax_cycles(s, s, n), "sfu": sched.heads * s * s})
    ops["layernorm"] = Counter({"cycles": 2 * layernorm_cycles(s, c.hidden, n), "sfu": 2 * s * c.hidden})
    ops["gelu"] = Counter({"sfu": s * c.ffn})
    ops["residual_add"] = Counter({"adds": 2 * s * c.hidden})      # two skips, added on the drain
    return ops


def offramp_operators(sched: Schedule, layer: int | None = None) -> dict[str, Counter]:
    """One off-ramp: the pooler and classifier GEMVs with tanh (and the DDR fetch of their records
    when the build keeps them there), then the entropy; equals `sched.off_ramp(layer)`."""
    k = sched.cfg.num_labels
    whole = sched.off_ramp(layer)
    ramp = Counter({"cycles": whole["offramp"] - entropy_cycles(k), "macs": whole["macs"], "sfu": sched.cfg.hidden})
    if whole["offchip_words"]:
        ramp["offchip_words"] = whole["offchip_words"]
    return {"offramp": ramp, "entropy": Counter({"cycles": entropy_cycles(k), "sfu": k})}


def sentence_operators(sched: Schedule, record_words, layers_run: int | None = None) -> dict[str, Counter]:
    """A sentence per operator: phase 1 (embedding, layer 1, off-ramp 1, exit gate, predictor) and
    phase 2 over `layers_run` more layers (default: all). Grouped by OPERATOR_PHASE the cycles
    equal phase1(record_words) + phase2(s, layers_run); the exit gate and predictor count as off-ramp."""
    c, n, s = sched.cfg, sched.n, len(record_words)
    layers_run = c.layers - 1 if layers_run is None else layers_run
    emb = sched.embed(record_words)
    out = {op: Counter() for op in OPERATORS}
    out["embedding"] = Counter({"cycles": emb["embed"], "offchip_words": emb["offchip_words"]})
    out["layernorm"] += Counter({"cycles": emb["layernorm"], "sfu": s * c.embed_dim})
    out["embed_proj"] = _gemm(1, s, c.hidden, c.embed_dim, n)
    body = layer_operators(sched, s)
    for layer in range(1 + layers_run):
        for op, cnt in (body | offramp_operators(sched, layer)).items():
            out[op] += cnt
    out["offramp"]["cycles"] += 1 + (c.layers - 2) + BINNED_CYCLES + layers_run   # gate + predictors, gate per layer
    return out
