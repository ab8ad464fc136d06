"""Memory images for the accelerator: the exact word layout `hls/include/eb_image.h` reads, with
the magics, header word positions and record orders of the interface (interface.py).

Three images (uint32, little-endian): the shared function tables (loaded once per bitstream),
one per task (encoder weights, off-ramps, vectors, span mask, predictor tables; loaded on a task
switch), and the embedding table (stays in DDR, read a row per token). The same arrays feed the
C-simulation (ctypes) and the board (DMA buffers).
"""
from __future__ import annotations

import numpy as np

from edgebert.accel.artifact import AfTensor, HwTask
from edgebert.accel.interface import (
    EMBED_MAGIC,
    IMAGE_VERSION,
    SHARED_MAGIC,
    TABLE_ORDER,
    TASK_HEADER_WORDS,
    TASK_MAGIC,
    EmbedHeader,
    GainId,
    MatrixId,
    TaskHeader,
    VectorId,
)
from edgebert.accel.numerics import functions as fn
from edgebert.accel.numerics.fixed import SITES
from edgebert.accel.predictor import ROWS

# The artifact tensors of the shared layer and the embedding, in the image's record order.
LAYER_MATRICES = tuple(m.doc for m in MatrixId if m < MatrixId.RAMPS)
LAYER_VECTORS = tuple(v.doc for v in VectorId if v < VectorId.RAMPS)
GAINS = tuple(g.doc for g in GainId)
MATRIX_HEADER_WORDS = 4                      # rows, cols, af_bias, nnz


def _words(values) -> list[int]:
    return [int(v) & 0xFFFFFFFF for v in np.asarray(values, dtype=np.int64).ravel()]


def _mask_words(bits: np.ndarray) -> np.ndarray:
    """Bits (flattened) as 32-bit words, LSB first."""
    padded = np.zeros(-(-bits.size // 32) * 32, dtype=np.uint8)
    padded[: bits.size] = bits
    return np.packbits(padded.reshape(-1, 32), axis=1, bitorder="little").view("<u4").ravel()


def _code_words(codes: np.ndarray) -> np.ndarray:
    """uint8 codes, four to a word, the first in the low byte."""
    padded = np.zeros(-(-codes.size // 4) * 4, dtype=np.uint8)
    padded[: codes.size] = codes
    return padded.view("<u4")


def _matrix(t: AfTensor) -> np.ndarray:
    nz = t.codes.ravel() != 0
    rows, cols = t.codes.shape
    head = np.array(_words([rows, cols, t.bias, int(nz.sum())]), dtype=np.uint32)     # MATRIX_HEADER_WORDS
    return np.concatenate([head, _mask_words(nz.astype(np.uint8)), _code_words(t.codes.ravel()[nz])])


def shared_image(tables: dict[str, np.ndarray]) -> np.ndarray:
    parts = [np.array([SHARED_MAGIC, IMAGE_VERSION] + [len(tables[n]) for n in TABLE_ORDER], dtype=np.uint32)]
    parts += [np.asarray(tables[n], dtype=np.int64).astype(np.uint32) for n in TABLE_ORDER]
    return np.concatenate(parts)


def task_image(task: HwTask) -> np.ndarray:
    cfg = task.cfg
    eps = [fn.layernorm_eps(cfg.layer_norm_eps, w, task.formats[s])
           for w, s in ((cfg.embed_dim, "emb"), (cfg.hidden, "hidden"))]
    th = TaskHeader
    header = np.zeros(TASK_HEADER_WORDS, dtype=np.int64)
    header[[th.MAGIC, th.VERSION, th.E, th.H, th.HEADS, th.FFN, th.LAYERS, th.MAX_LEN, th.CLASSES, th.TYPES]] = \
        [TASK_MAGIC, IMAGE_VERSION, cfg.embed_dim, cfg.hidden, cfg.heads, cfg.ffn, cfg.layers, cfg.max_len,
         cfg.num_labels, cfg.type_vocab]
    header[th.FRAC_EMB: th.FRAC_EMB + len(SITES)] = [task.formats[s] for s in SITES]
    header[[th.EPS_EMB_LO, th.EPS_EMB_HI, th.EPS_HID_LO, th.EPS_HID_HI]] = \
        [eps[0] & 0xFFFFFFFF, eps[0] >> 32, eps[1] & 0xFFFFFFFF, eps[1] >> 32]
    header[th.THRESHOLD] = task.threshold_q16
    header[th.LIVE_HEADS] = sum(1 << int(h) for h in task.live_heads)
    parts = [np.array(_words(header), dtype=np.uint32)]
    names = list(LAYER_MATRICES)
    for l in range(cfg.layers):
        names += [f"ramps.{l}.pooler", f"ramps.{l}.classifier"]
    parts += [_matrix(task.matrices[n]) for n in names]
    vectors = list(LAYER_VECTORS)
    for l in range(cfg.layers):
        vectors += [f"ramps.{l}.pooler.bias", f"ramps.{l}.classifier.bias"]
    for n in vectors + list(GAINS):
        v = task.vectors[n]
        parts.append(np.array([v.size] + _words(v), dtype=np.uint32))
    parts.append(np.array(_words(task.span_mask), dtype=np.uint32))
    parts.append(np.array(_words(task.predictor), dtype=np.uint32))
    parts.append(np.array(_words(task.binned.edges), dtype=np.uint32))
    parts.append(_code_words(np.asarray(task.binned.bins, dtype=np.uint8).ravel()))
    image = np.concatenate(parts)
    image[TaskHeader.TOTAL_WORDS] = image.size
    if task.predictor.shape[0] != ROWS:
        raise ValueError(f"predictor table has {task.predictor.shape[0]} rows, the accelerator reads {ROWS}")
    return image


def embedding_image(word: AfTensor) -> np.ndarray:
    """Header, row index (rows + 1 offsets), then per row: mask words and its code words."""
    rows, cols = word.codes.shape
    nz = word.codes != 0
    mask_words = -(-cols // 32)
    code_words = -(-nz.sum(axis=1) // 4)
    index = np.concatenate([[0], np.cumsum(mask_words + code_words)]).astype(np.uint32)
    records = np.zeros(int(index[-1]), dtype=np.uint32)
    for r in range(rows):
        start = int(index[r])
        records[start: start + mask_words] = _mask_words(nz[r].astype(np.uint8))
        records[start + mask_words: int(index[r + 1])] = _code_words(word.codes[r][nz[r]])
    eh = EmbedHeader
    header = np.zeros(len(eh), dtype=np.uint32)
    header[[eh.MAGIC, eh.VERSION, eh.ROWS, eh.COLS, eh.AF_BIAS]] = [EMBED_MAGIC, IMAGE_VERSION, rows, cols,
                                                                    word.bias & 0xFFFFFFFF]
    header[eh.INDEX_AT] = len(eh)
    header[eh.RECORDS_AT] = len(eh) + rows + 1
    header[eh.TOTAL_WORDS] = header[eh.RECORDS_AT] + records.size
    return np.concatenate([header, index, records])


def ramp_record_words(task: HwTask) -> tuple[int, ...]:
    """Words of each off-ramp matrix record in the task image (pooler, classifier per layer):
    what a build with the off-ramps in DDR fetches per layer."""
    out = []
    for l in range(task.cfg.layers):
        for name in (f"ramps.{l}.pooler", f"ramps.{l}.classifier"):
            codes = task.matrices[name].codes
            out.append(MATRIX_HEADER_WORDS + -(-codes.size // 32) + -(-int(np.count_nonzero(codes)) // 4))
    return tuple(out)


def embedding_record_words(word: AfTensor, ids) -> np.ndarray:
    """Words of each token's embedding record (what phase 1 reads from DDR per token)."""
    codes = word.codes[np.asarray(ids)]
    return -(-codes.shape[1] // 32) + -(-np.count_nonzero(codes, axis=1) // 4)


def token_words(ids, types) -> np.ndarray:
    ids, types = np.asarray(ids, dtype=np.int64), np.asarray(types, dtype=np.int64)
    if ids.shape != types.shape:
        raise ValueError("token ids and types differ in length")
    if ids.size and (ids.min() < 0 or ids.max() > 0xFFFF or types.min() < 0 or types.max() > 0xFFFF):
        raise ValueError("token id or type outside 0..65535")
    return (ids | (types << 16)).astype(np.uint32)
