"""A candidate design for the configuration search: a model configuration on a board's build at
an array size n, and what the project's exact models say of it. Before training: the resource
estimate of the build sized to the model, and a lower bound on its latency. After training: the
cycle model's time of every sentence at its exit layer at the board's top clock, and its 12 nm
energy. The cycle model equals the C-simulation's counters; the energy is the ASIC projection
(edgebert.accel.energy) at the nominal operating point, without DVFS."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from edgebert.accel.asic12nm import EnergyParams
from edgebert.accel.builds import Build, get_build
from edgebert.accel.cost import Schedule, cdiv
from edgebert.accel.energy import phase_energy
from edgebert.accel.fit import model_fits_buffers
from edgebert.accel.images import MATRIX_HEADER_WORDS
from edgebert.accel.resources import estimate, weight_store
from edgebert.core.config import ModelConfig

SIZED = ("EB_MAX_LEN", "EB_MAX_E", "EB_MAX_H", "EB_MAX_FFN", "EB_MAX_HEADS")


def encoder_codes(cfg: ModelConfig) -> int:
    """Dense codes of the pruned matrices: the E -> H projection and the shared layer."""
    return cfg.embed_dim * cfg.hidden + 4 * cfg.hidden ** 2 + 2 * cfg.hidden * cfg.ffn


def weight_density(cfg: ModelConfig, ramps_on_chip: bool, encoder_sparsity: float, ramp_sparsity: float) -> int:
    """EB_WEIGHT_DENSITY (percent of the build's dense codes, resources.weight_store) that holds
    the non-zero codes of `cfg` with its encoder and, when on chip, its off-ramp poolers pruned to
    these sparsities (magnitude pruning keeps that fraction of each matrix; one point is spare
    for its rounding; the classifiers stay dense)."""
    h = cfg.hidden
    limits = {"EB_MAX_LEN": cfg.max_len, "EB_MAX_E": cfg.embed_dim, "EB_MAX_H": h, "EB_MAX_FFN": cfg.ffn,
              "EB_RAMPS_IN_DDR": 0 if ramps_on_chip else 1, "EB_WEIGHT_DENSITY": 100}
    need = (1 - encoder_sparsity) * encoder_codes(cfg)
    if ramps_on_chip:
        need += cfg.layers * ((1 - ramp_sparsity) * h * h + cfg.num_labels * h)
    return min(100, math.ceil(100 * need / weight_store(1, limits)["dense"]) + 1)


def sized_build(board: str, cfg: ModelConfig, n: int, density: int) -> Build:
    """The board's build with its buffers sized to `cfg` (the limits the search varies) and
    its weight store at `density` percent."""
    base = get_build(board)
    limits = {**base.limits, "EB_MAX_LEN": cfg.max_len, "EB_MAX_E": cfg.embed_dim, "EB_MAX_H": cfg.hidden,
              "EB_MAX_FFN": cfg.ffn, "EB_MAX_HEADS": cfg.heads, "EB_WEIGHT_DENSITY": density}
    return dataclasses.replace(base, n=n, limits=limits)


def resources(build: Build, cfg: ModelConfig) -> dict:
    """DSP, BRAM36, URAM, LUT of the build against its part, and whether the model fits."""
    est = estimate(build.n, build.limits, build.part, build.wbuf_storage)
    fits = est["fits"] and model_fits_buffers(cfg, build)
    return {**{k: est[k] for k in ("dsp", "bram36", "uram", "lut")}, "capacity": est["capacity"],
            "utilization": {k: round(v, 3) for k, v in est["utilization"].items()},
            "codes_capacity": est["weight_store"]["codes"], "fits": fits}


def ramps_in_ddr(build: Build) -> bool:
    return bool(build.limits.get("EB_RAMPS_IN_DDR", 0))


def latency_lower_bound_ms(build: Build, cfg: ModelConfig, lengths, top_mhz: float, quantile: float = 99) -> float:
    """No trained model of `cfg` on `build` is faster on the `quantile` sentence of these
    lengths: every sentence leaves at layer 1 (phase 1 only), with no live head, and every
    token's embedding record holds only its mask words (an all-zero row)."""
    sched = Schedule(cfg, build.n, 0, None)
    mask_words = cdiv(cfg.embed_dim, 32)
    cycles = [sched.phase1_cycles([mask_words] * min(int(s), cfg.max_len)) for s in lengths]
    return float(np.percentile(cycles, quantile)) / (top_mhz * 1e3)


def latency_upper_bound_ms(build: Build, cfg: ModelConfig, lengths, top_mhz: float, quantile: float = 99) -> float:
    """No trained model of `cfg` on `build` is slower on the `quantile` sentence: every sentence
    runs all layers with every head live, and every embedding and off-ramp record is dense."""
    dense = lambda rows, cols: MATRIX_HEADER_WORDS + cdiv(rows * cols, 32) + cdiv(rows * cols, 4)
    ramps = None
    if ramps_in_ddr(build):
        ramps = (dense(cfg.hidden, cfg.hidden), dense(cfg.num_labels, cfg.hidden)) * cfg.layers
    sched = Schedule(cfg, build.n, cfg.heads, ramps)
    row = cdiv(cfg.embed_dim, 32) + cdiv(cfg.embed_dim, 4)
    cycles = [sched.phase1_cycles([row] * min(int(s), cfg.max_len))
              + sched.phase2_cycles(min(int(s), cfg.max_len), cfg.layers - 1) for s in lengths]
    return float(np.percentile(cycles, quantile)) / (top_mhz * 1e3)


def ramp_words(ramp_codes: list[np.ndarray]) -> tuple[int, ...]:
    """Record words of each off-ramp matrix (pooler, classifier per layer) from their codes, as
    edgebert.accel.images lays them out."""
    return tuple(MATRIX_HEADER_WORDS + -(-c.size // 32) + -(-int(np.count_nonzero(c)) // 4) for c in ramp_codes)


def sentence_costs(sched: Schedule, record_words: list[np.ndarray], exits: np.ndarray, top_mhz: float,
                   p: EnergyParams) -> dict:
    """Each sentence's board time (ms, at the top clock) and 12 nm energy (uJ, at the nominal
    point V0, no DVFS, no idle: every MAC counted un-gated, since the gating needs the data)."""
    ms, uj = [], []
    for words, exit_layer in zip(record_words, exits):
        s, later = len(words), int(exit_layer) - 1
        c1 = sched.phase1(words)
        cycles, (e1, _) = c1["cycles"], phase_energy(p, sched, s, 1, True, c1, p.v0)
        energy = sum(e1.values())
        if later:
            c2 = sched.phase2(s, later)
            e2, _ = phase_energy(p, sched, s, later, False, c2, p.v0)
            cycles += c2["cycles"]
            energy += sum(e2.values())
        ms.append(cycles / (top_mhz * 1e3))
        uj.append(energy)
    return {"latency_ms": np.array(ms), "energy_uj": np.array(uj)}
