"""The accelerator's interface: command codes, status codes, the result-word layout, the
counters, the limits and schedule constants the build reports."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CMD_LOAD_SHARED, CMD_LOAD_TASK, CMD_PHASE1, CMD_PHASE2 = 1, 2, 3, 4
RESULT_WORDS = 48


COUNTERS = ("cycles", "linear", "attention", "softmax", "layernorm", "embed", "offramp", "macs",
            "offchip_words", "saturations")


STATUS = {
    1: "unknown command",
    2: "the memory image is corrupt, truncated or of another version",
    3: "the task does not fit this build's on-chip buffers",
    4: "sentence length is 0 or above the task's max_len",
    5: "no task is loaded",
    6: "phase 2 was requested without a phase 1 before it",
    7: "phase 2 stop layer is outside 2..layers",
    8: "a token id or type is outside the vocabulary",
    9: "the shared function tables are not loaded",
    10: "the embedding image is missing, corrupt or does not match the task's embedding width",
}


LIMIT_NAMES = ("n", "max_len", "max_e", "max_h", "max_ffn", "max_heads", "max_layers", "max_classes",
               "native_types", "ramps_in_ddr")


SCHEDULE_NAMES = ("mac_pipe", "softmax_passes", "layernorm_passes", "div_cycles", "isqrt_cycles",
                  "log_cycles", "axi_latency")


@dataclass
class PhaseResult:
    exit_layer: int              # phase 1: 1 if it exits now, else 0; phase 2: the exit layer
    logits: np.ndarray           # words in the logit format
    entropies: dict[int, int]    # layer -> Q.16 entropy, for the layers this phase ran
    counters: dict[str, int]
    predicted_layer: int = 0
    h1: int = 0
    exit_now: bool = False
