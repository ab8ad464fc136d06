"""The accelerator's interface, defined once: the top function's commands and status codes, the
result words it writes, the counters, the memory-image headers, the build limits and the
schedule's cycle constants.

The HLS C++ reads the same definitions from `hls/include/eb_interface.h`, which
`write_header()` generates from this module (`edgebert generate`);
the header is committed so that an HLS build needs only `hls/`. Tests compile it and compare
every value with this module. Both backends (C-simulation and board) decode the result words
with `decode_phase1`, `decode_phase2` and `decode_counters`.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import NamedTuple

import numpy as np

from edgebert.accel.numerics.adaptivfloat import BIAS_MAX, BIAS_MIN
from edgebert.accel.numerics.fixed import SITES
from edgebert.accel.predictor import H_BINS, H_SHIFT, LEN_BINS, ROWS
from edgebert.core.paths import REPO_ROOT

HEADER = REPO_ROOT / "hls" / "include" / "eb_interface.h"
REGENERATE = "edgebert generate"


class Constant(NamedTuple):
    name: str        # the C++ identifier
    value: int
    doc: str


class Slots(IntEnum):
    """Codes or word positions, each with a note. A member given only its note takes the next
    value. In the task-image tables (MatrixId, VectorId, GainId) the note is the artifact tensor
    the slot holds, which the image packer reads."""

    def __new__(cls, *args):
        value, doc = args if len(args) == 2 else (len(cls.__members__), args[0])
        member = int.__new__(cls, value)
        member._value_ = value
        member.doc = doc
        return member


# ---- build limits: on-chip buffer sizes; one bitstream serves any task within them ----------
# Defaults: ALBERT-base (configs/model/paper.yaml; Lan et al. 2020) at EdgeBERT's 128 tokens.
# Board builds override them with -D (hls/tcl/boards.tcl).
BUILD_LIMITS = (
    Constant("EB_N", 16, "MAC array is EB_N x EB_N lanes (8 for PYNQ-Z2, 16 for ZU+)"),
    Constant("EB_MAX_LEN", 128, "longest sentence (tokens)"),
    Constant("EB_MAX_E", 128, "factorized embedding width"),
    Constant("EB_MAX_H", 768, "hidden width"),
    Constant("EB_MAX_FFN", 3072, "feed-forward width"),
    Constant("EB_MAX_HEADS", 12, "attention heads"),
    Constant("EB_RAMPS_IN_DDR", 0, "1: off-ramp weights stay in DDR, fetched per layer (small parts)"),
    Constant("EB_WEIGHT_DENSITY", 100, "weight-code store: percent of the dense size (bitmask-sparse)"),
)
# Fixed in every build: the result words are laid out for them.
FIXED_LIMITS = (
    Constant("EB_MAX_LAYERS", 12, "ALBERT-base's layers; one entropy result word each"),
    Constant("EB_MAX_CLASSES", 4, "logit result words"),
    Constant("EB_MAX_TYPES", 2, "token types (sentence A, sentence B)"),
    Constant("EB_PRED_ROWS", ROWS, "EdgeBERT's predictor table: H1 = 0.00 .. 0.99 (predictor.py)"),
    Constant("EB_BIN_H", H_BINS, "binned predictor: layer-1 entropy bins (predictor.py)"),
    Constant("EB_BIN_H_SHIFT", H_SHIFT, "binned predictor: entropy bin = H1 (Q.16) >> this"),
    Constant("EB_BIN_LEN", LEN_BINS, "binned predictor: sentence-length bins (LEN_BINS - 1 edges)"),
    Constant("EB_AF_BIAS_MIN", BIAS_MIN, "AdaptivFloat exponent bias range (adaptivfloat.py)"),
    Constant("EB_AF_BIAS_MAX", BIAS_MAX, ""),
)
LIMIT_DEFAULTS = {c.name: c.value for c in BUILD_LIMITS + FIXED_LIMITS}
MAX_LAYERS = LIMIT_DEFAULTS["EB_MAX_LAYERS"]
MAX_CLASSES = LIMIT_DEFAULTS["EB_MAX_CLASSES"]
MAX_TYPES = LIMIT_DEFAULTS["EB_MAX_TYPES"]
# What the C-simulation library's eb_limits() reports, in order (hls/src/bridge.cpp).
LIMIT_NAMES = ("n", "max_len", "max_e", "max_h", "max_ffn", "max_heads", "max_layers", "max_classes",
               "native_types", "ramps_in_ddr")


def reported_limits(native: bool = True, defines: dict | None = None) -> dict[str, int]:
    """The limits a build's eb_limits() reports: the defaults, overridden by `defines`."""
    macros = {**LIMIT_DEFAULTS, **(defines or {}), "EB_NATIVE_TYPES": int(native)}
    return {name: int(macros["EB_" + name.upper()]) for name in LIMIT_NAMES}


# ---- the schedule: what one pass of each operator costs in clock cycles ---------------------
# The design's choices (docs/hardware.md); the cost model (cost.py) computes with them.
SCHEDULE_CONSTANTS = (
    Constant("MAC_PIPE", 4, "MAC array pipeline fill (operand read, multiply, accumulate, requantize), per matmul"),
    Constant("SOFTMAX_PASSES", 3, "max; exp + sum; normalize + span mask"),
    Constant("LAYERNORM_PASSES", 3, "sum; sum of squares; normalize + gain + beta"),
    Constant("DIV_CYCLES", 48, "radix-2 divider, one quotient bit per cycle"),
    Constant("ISQRT_CYCLES", 31, "bit-serial square root of a 62-bit sum"),
    Constant("LOG_CYCLES", 2, "priority encoder + ln(1+f) table"),
    Constant("AXI_LATENCY", 16, "DDR read latency of one burst (one embedding row)"),
    Constant("BINNED_CYCLES", 2, "binned predictor: entropy/length bins and layer-1 argmax; table read"),
)
SCHEDULE = {c.name.lower(): c.value for c in SCHEDULE_CONSTANTS}    # eb_schedule()'s order
SCHEDULE_NAMES = tuple(SCHEDULE)


class Counter(Slots):
    """Per-phase counters the hardware keeps (eb_schedule.h's Counters)."""
    CYCLES = "all cycles of the phase (the sum of the next six)"
    LINEAR = "weight matmuls of the layer and the E -> H projection"
    ATTENTION = "Q K^T and P V"
    SOFTMAX = "softmax rows"
    LAYERNORM = "LayerNorm rows"
    EMBED = "embedding row fetches from DDR and the word + position + type sum"
    OFFRAMP = "pooler and classifier matmuls, entropy, exit gate and predictor"
    MACS = "multiply-accumulates issued (real lanes only)"
    OFFCHIP_WORDS = "32-bit words read from DDR during the phase"
    SATURATIONS = "saturation events"
    # Appended last so that the other counters keep their words. The rule: a MAC is gated when
    # either of its operands is zero (weight x activation in the projections and off-ramps,
    # activation x activation in Q K^T and P V), counted once when both are; real lanes only.
    # Data-dependent, so the cost model does not predict it.
    GATED_MACS = "MACs with a zero operand, clock-gated (a subset of MACS; no cycle skipped)"


COUNTERS = tuple(c.name.lower() for c in Counter)
N_COUNTERS = len(Counter)


# ---- commands, status codes and result words of the top function ----------------------------
class Command(Slots):
    LOAD_SHARED = 1, "the shared function tables, once per bitstream"
    LOAD_TASK = 2, "one task's weights: the multi-task switch"
    PHASE1 = 3, "embedding, layer 1, off-ramp 1, exit gate, predicted exit layer"
    PHASE2 = 4, "layers 2 .. stop_layer from the on-chip hidden state"


class Status(Slots):
    """The top function's return value; each note is the message the host shows."""
    OK = "done"
    BAD_COMMAND = "unknown command"
    BAD_IMAGE = "the memory image is corrupt, truncated or of another version"
    IMAGE_TOO_LARGE = "the task does not fit this build's on-chip buffers"
    BAD_LENGTH = "sentence length is 0 or above the task's max_len"
    NO_TASK = "no task is loaded"
    NO_PHASE1 = "phase 2 was requested without a phase 1 before it"
    BAD_STOP_LAYER = "phase 2 stop layer is outside 2..layers"
    BAD_TOKEN = "a token id or type is outside the vocabulary"
    NO_TABLES = "the shared function tables are not loaded"
    BAD_EMBEDDING = "the embedding image is missing, corrupt or does not match the task's embedding width"


class Result(Slots):
    """Result words (int32) the phase commands write; the loads write only the counters."""
    EXIT_LAYER = 0, "phase 1: 1 if it exits at layer 1, else 0; phase 2: the exit layer"
    PREDICTED = 1, "predicted exit layer (phase 1)"
    EXIT_NOW = 2, "phase 1: 1 if layer 1's entropy is below the threshold"
    H1 = 3, "layer-1 entropy, Q.16"
    LOGITS = 4, "EB_MAX_CLASSES words: the exit layer's logits"
    ENTROPY = 8, "EB_MAX_LAYERS words: entropy of layer l at R_ENTROPY + l - 1"
    COUNTERS = 24, "N_COUNTERS counters, two words each (low, high)"
    PREDICTED_BINNED = 46, "predicted exit layer of the binned predictor (phase 1)"


RESULT_WORDS = 48           # the layout above and one spare word: the results port's depth


# ---- memory images (32-bit little-endian words; layout in eb_image.h, packer in images.py) ---
IMAGE_VERSION = 3           # 2: the binned predictor follows EdgeBERT's table; 3: signed exponent biases


def _magic(tag: str) -> int:
    """A four-character tag as the little-endian word that reads as it in a hex dump."""
    return int.from_bytes(tag.encode("ascii"), "little")


MAGICS = (("SHARED_MAGIC", "EBS1"), ("TASK_MAGIC", "EBT1"), ("EMBED_MAGIC", "EBE1"))
SHARED_MAGIC, TASK_MAGIC, EMBED_MAGIC = (_magic(tag) for _, tag in MAGICS)
TABLE_ORDER = ("exp2", "gelu", "tanh", "ln1p")       # the shared image's tables, in order
SHARED_HEADER_WORDS = 2 + len(TABLE_ORDER)          # magic, version, each table's length


class TaskHeader(Slots):
    MAGIC = "TASK_MAGIC"
    VERSION = "IMAGE_VERSION"
    E = "embedding width"
    H = "hidden width"
    HEADS = "attention heads"
    FFN = "feed-forward width"
    LAYERS = "encoder layers (uses of the shared layer)"
    MAX_LEN = "the task's longest sentence"
    CLASSES = "output classes"
    TYPES = "token types"
    FRAC_EMB = "fraction bits of each activation site, in numerics/fixed.py's SITES order"
    FRAC_HIDDEN = ""
    FRAC_Q = ""
    FRAC_K = ""
    FRAC_V = ""
    FRAC_SCORE = ""
    FRAC_FFN = ""
    FRAC_POOL = ""
    FRAC_LOGIT = ""
    EPS_EMB_LO = "LayerNorm epsilons, int64 in two words (low, high)"
    EPS_EMB_HI = ""
    EPS_HID_LO = ""
    EPS_HID_HI = ""
    THRESHOLD = "the task's exit threshold, Q.16"
    LIVE_HEADS = "bit h: head h has a non-zero span"
    TOTAL_WORDS = "the image's length in words"


TASK_HEADER_WORDS = 32      # the words after TH_TOTAL_WORDS are zero: room for new fields


class EmbedHeader(Slots):
    MAGIC = "EMBED_MAGIC"
    VERSION = "IMAGE_VERSION"
    ROWS = "vocabulary size"
    COLS = "embedding width"
    AF_BIAS = "AdaptivFloat exponent bias of the table"
    INDEX_AT = "word offset of the row index (rows + 1 offsets into the records)"
    RECORDS_AT = "word offset of the first record"
    TOTAL_WORDS = "the image's length in words"


class MatrixId(Slots):
    """The task image's matrix records, in order. Off-ramp l follows the layer's: its pooler at
    M_RAMPS + 2 l, its classifier at M_RAMPS + 2 l + 1."""
    EMBED_PROJ = "embed_proj"
    Q = "layer.q"
    K = "layer.k"
    V = "layer.v"
    O = "layer.o"  # noqa: E741 (the C++ name is M_O)
    FFN1 = "layer.ffn1"
    FFN2 = "layer.ffn2"
    POSITION = "position"
    TYPE = "token_type"
    RAMPS = "ramps.<l>.pooler, ramps.<l>.classifier"


class VectorId(Slots):
    """The task image's vectors, in order; off-ramp l's biases at V_RAMPS + 2 l (+ 1)."""
    EMBED_PROJ = "embed_proj.bias"
    Q = "layer.q.bias"
    K = "layer.k.bias"
    V = "layer.v.bias"
    O = "layer.o.bias"  # noqa: E741 (the C++ name is V_O)
    FFN1 = "layer.ffn1.bias"
    FFN2 = "layer.ffn2.bias"
    EMBED_BETA = "embed_ln.beta"
    LN1_BETA = "layer.ln1.beta"
    LN2_BETA = "layer.ln2.beta"
    RAMPS = "ramps.<l>.pooler.bias, ramps.<l>.classifier.bias"


class GainId(Slots):
    """The task image's LayerNorm gains, in order."""
    EMBED = "embed_ln.gain"
    LN1 = "layer.ln1.gain"
    LN2 = "layer.ln2.gain"


# ---- decoding the result words (both backends) ----------------------------------------------
@dataclass
class PhaseResult:
    exit_layer: int              # phase 1: 1 if it exits now, else 0; phase 2: the exit layer
    logits: np.ndarray           # words in the logit format
    entropies: dict[int, int]    # layer -> Q.16 entropy, for the layers this phase ran
    counters: dict[str, int]
    predicted_layer: int = 0
    h1: int = 0
    exit_now: bool = False
    predicted_binned: int = 0


def _int32(words) -> np.ndarray:
    a = np.ascontiguousarray(words)
    if a.dtype.itemsize != 4 or a.size < RESULT_WORDS:
        raise ValueError(f"result words: want {RESULT_WORDS} 32-bit words, got {a.size} of {a.dtype}")
    return a.view(np.int32)


def decode_counters(words) -> dict[str, int]:
    w = _int32(words)[Result.COUNTERS: Result.COUNTERS + 2 * N_COUNTERS].view(np.uint32).astype(np.uint64)
    return {name: int(w[2 * i] | (w[2 * i + 1] << np.uint64(32))) for i, name in enumerate(COUNTERS)}


def decode_phase1(words, classes: int) -> PhaseResult:
    w = _int32(words)
    return PhaseResult(int(w[Result.EXIT_LAYER]), w[Result.LOGITS: Result.LOGITS + classes].astype(np.int64),
                       {1: int(w[Result.ENTROPY])}, decode_counters(w), predicted_layer=int(w[Result.PREDICTED]),
                       h1=int(w[Result.H1]), exit_now=bool(w[Result.EXIT_NOW]),
                       predicted_binned=int(w[Result.PREDICTED_BINNED]))


def decode_phase2(words, classes: int) -> PhaseResult:
    w = _int32(words)
    last = int(w[Result.EXIT_LAYER])
    return PhaseResult(last, w[Result.LOGITS: Result.LOGITS + classes].astype(np.int64),
                       {k: int(w[Result.ENTROPY + k - 1]) for k in range(2, last + 1)}, decode_counters(w))


def status_message(code: int) -> str:
    """The error text for a non-zero status."""
    try:
        reason = Status(code).doc
    except ValueError:
        reason = "unknown status"
    return f"accelerator status {code}: {reason}"


# ---- the C++ header ---------------------------------------------------------------------------
def _enums() -> list[tuple[str, str, list[tuple[str, int, str]], tuple[str, int] | None, str]]:
    """(C++ name, member prefix, members, closing constant, comment) of each enum."""
    def members(e):
        return [(m.name, int(m), m.doc) for m in e]
    return [
        ("TaskHeader", "TH_", members(TaskHeader), ("TASK_HEADER_WORDS", TASK_HEADER_WORDS), "Task header word positions."),
        ("EmbedHeader", "EH_", members(EmbedHeader), ("EMBED_HEADER_WORDS", len(EmbedHeader)),
         "Embedding header word positions."),
        ("MatrixId", "M_", members(MatrixId), None, MatrixId.__doc__),
        ("VectorId", "V_", members(VectorId), None, VectorId.__doc__),
        ("GainId", "G_", members(GainId), ("N_GAINS", len(GainId)), GainId.__doc__),
        ("Site", "F_", [(s.upper(), i, "") for i, s in enumerate(SITES)], ("N_SITES", len(SITES)),
         "Activation sites, one format each (numerics/fixed.py SITES; the task header's TH_FRAC_*)."),
        ("Command", "CMD_", members(Command), None, "The top function's cmd argument."),
        ("Status", "ST_", members(Status), None, Status.__doc__),
        ("Result", "R_", members(Result), ("RESULT_WORDS", RESULT_WORDS), Result.__doc__),
        ("Counter", "C_", members(Counter), ("N_COUNTERS", N_COUNTERS), Counter.__doc__),
    ]


def _comment(text: str) -> list[str]:
    return [f"// {line}" for line in textwrap.wrap(" ".join(text.split()), 96)]


def _aligned(rows: list[tuple[str, str]], indent: str = "") -> list[str]:
    width = max(len(code) for code, _ in rows)
    return [f"{indent}{code:<{width}}  // {doc}" if doc else f"{indent}{code}" for code, doc in rows]


def render_header() -> str:
    """The text of hls/include/eb_interface.h (deterministic)."""
    out = ["// Generated from model_export/accel/interface.py (edgebert.accel.interface); do not edit.",
           f"// Regenerate: {REGENERATE}",
           "// The accelerator's interface: build limits, memory-image headers, commands, status codes,",
           "// result words, counters and schedule constants. Layout prose: eb_image.h.",
           "#ifndef EB_INTERFACE_H", "#define EB_INTERFACE_H", "",
           "// ---- build limits (on-chip buffer sizes); a build may override these with -D ----"]
    for c in BUILD_LIMITS:
        out += [f"#ifndef {c.name}", *_aligned([(f"#define {c.name} {c.value}", c.doc)]), "#endif"]
    out.append("// fixed: the result words are laid out for them")
    out += _aligned([(f"#define {c.name} {c.value}", c.doc) for c in FIXED_LIMITS])
    out += ["", "namespace eb {", "", "// ---- memory images ----"]
    out += _aligned([(f"const unsigned IMAGE_VERSION = {IMAGE_VERSION};", "")]
                    + [(f"const unsigned {name} = 0x{_magic(tag):08X};", f'"{tag}"') for name, tag in MAGICS]
                    + [(f"const int SHARED_HEADER_WORDS = {SHARED_HEADER_WORDS};",
                        f"magic, version, len({'), len('.join(TABLE_ORDER)})")])
    for name, prefix, members, end, doc in _enums():
        out += ["", *_comment(doc), f"enum {name} {{"]
        rows = [(f"{prefix}{m} = {v},", d) for m, v, d in members]
        if end:
            rows.append((f"{end[0]} = {end[1]}", ""))
        out += _aligned(rows, "    ") + ["};"]
    out += ["", "// ---- schedule: cycles of one pass of each operator (cost.py computes with them) ----"]
    out += _aligned([(f"const int {c.name} = {c.value};", c.doc) for c in SCHEDULE_CONSTANTS])
    out += ["", "}  // namespace eb", "", "#endif  // EB_INTERFACE_H", ""]
    return "\n".join(out)


def cpp_constants() -> dict[str, int]:
    """Every value of the header, by the C++ expression that names it."""
    out = {c.name: c.value for c in BUILD_LIMITS + FIXED_LIMITS}
    out.update({"eb::IMAGE_VERSION": IMAGE_VERSION, "eb::SHARED_HEADER_WORDS": SHARED_HEADER_WORDS})
    out.update({f"eb::{name}": _magic(tag) for name, tag in MAGICS})
    for _, prefix, members, end, _ in _enums():
        out.update({f"eb::{prefix}{m}": v for m, v, _ in members})
        if end:
            out[f"eb::{end[0]}"] = end[1]
    out.update({f"eb::{c.name}": c.value for c in SCHEDULE_CONSTANTS})
    return out


def header_is_current(path: Path = HEADER) -> bool:
    return Path(path).is_file() and Path(path).read_text() == render_header()


def write_header(path: Path = HEADER) -> Path:
    """(Re)write the C++ header from this module."""
    path = Path(path)
    path.write_text(render_header())
    return path
