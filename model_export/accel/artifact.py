"""The export artifact: everything the accelerator needs, as integer codes, words and tables.

    <dir>/manifest.json      format, per-task config, formats, thresholds, spans, and an index of
                             every blob (file, offset, bytes, dtype, shape, sha256)
    <dir>/shared.bin         the shared word-embedding table (bitmask + AdaptivFloat codes) and
                             the special-function tables: the part every task uses
    <dir>/<task>.bin         one task's encoder weights (bitmask + codes), bias/LayerNorm words,
                             position/type tables, span masks, EdgeBERT's predictor table
                             (the binned predictor's small table sits in the manifest)

The loader checks the format version, every blob's size and sha256, shapes, and that each
bitmask's population matches its codes, and names the problem when one fails.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgebert.accel.interface import MAX_CLASSES
from edgebert.accel.numerics import adaptivfloat as af
from edgebert.accel.numerics import functions as fn
from edgebert.accel.numerics.fixed import SITES
from edgebert.accel.predictor import ROWS, Binned, check_binned
from edgebert.core.config import ModelConfig
from edgebert.core.errors import InputError
from edgebert.core.versioned import read_versioned_json

FORMAT = "edgebert-accel-v3"          # v2: the binned exit predictor; v3: signed exponent biases
MANIFEST = "manifest.json"
SHARED_BLOB_FILE = "shared.bin"


class ArtifactError(InputError):
    """A corrupt, truncated, incomplete or version-mismatched artifact."""


@dataclass
class AfTensor:
    """A matrix of AdaptivFloat codes (dense in memory, bitmask-sparse on disk)."""
    codes: np.ndarray            # uint8 (rows, cols)
    bias: int

    @classmethod
    def from_float(cls, w: np.ndarray) -> "AfTensor":
        bias = af.choose_bias(w)
        codes, _ = af.encode(w, bias)
        return cls(codes, bias)

    def words(self, rows=None) -> np.ndarray:
        return af.decode_fixed(self.codes if rows is None else self.codes[rows])

    def row_bytes(self, rows) -> int:
        """Bytes fetched for these rows from bitmask-sparse storage: mask plus non-zero codes."""
        c = self.codes[rows]
        return int(c.shape[0] * math.ceil(c.shape[1] / 8) + np.count_nonzero(c))

    def stored_bytes(self) -> int:
        """Bitmask plus non-zero codes: what one full pass over the matrix reads."""
        return int(math.ceil(self.codes.size / 8) + np.count_nonzero(self.codes))

    def saturations(self, w: np.ndarray) -> int:
        return af.encode(w, self.bias)[1]


@dataclass
class HwTask:
    name: str
    cfg: ModelConfig
    formats: dict[str, int]
    threshold: float
    matrices: dict[str, AfTensor]
    vectors: dict[str, np.ndarray]
    span_mask: np.ndarray                 # (heads, max_len) UQ1.15
    predictor: np.ndarray                 # (ROWS, L-2) Q.16: EdgeBERT's table
    binned: Binned                        # the binned predictor (edgebert.accel.predictor)
    word_table: AfTensor
    tables: dict[str, np.ndarray]
    spans: list[float] = field(default_factory=list)
    export_saturations: dict[str, int] = field(default_factory=dict)

    @property
    def threshold_q16(self) -> int:
        return threshold_q16(self.threshold)

    @property
    def position(self) -> AfTensor:
        return self.matrices["position"]

    @property
    def token_type(self) -> AfTensor:
        return self.matrices["token_type"]

    @property
    def live_heads(self) -> np.ndarray:
        """Heads whose span mask is not all zero (the others are skipped in hardware)."""
        return np.flatnonzero(self.span_mask.any(axis=1))


def threshold_q16(t: float) -> int:
    return int(np.floor(t * 2 ** fn.ENTROPY_FRAC + 0.5))


# ---- writing ------------------------------------------------------------------------------
class _BlobWriter:
    def __init__(self, path: Path):
        self.path, self.parts, self.offset, self.index = path, [], 0, {}

    def add(self, key: str, arr: np.ndarray, dtype: str) -> str:
        data = np.ascontiguousarray(arr, dtype=dtype).tobytes()
        self.index[key] = {"file": self.path.name, "offset": self.offset, "bytes": len(data),
                           "dtype": dtype, "shape": list(np.shape(arr)),
                           "sha256": hashlib.sha256(data).hexdigest()}
        self.parts.append(data)
        self.offset += len(data)
        return key

    def add_af(self, key: str, t: AfTensor) -> dict:
        nz = t.codes != 0
        return {"shape": list(t.codes.shape), "bias": int(t.bias),
                "mask": self.add(f"{key}.mask", np.packbits(nz.ravel()), "uint8"),
                "codes": self.add(f"{key}.codes", t.codes[nz], "uint8")}

    def close(self) -> None:
        self.path.write_bytes(b"".join(self.parts))


def save_artifact(tasks: list[HwTask], out_dir: Path) -> Path:
    """Write one artifact for tasks that share the word table and the function tables."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    first = tasks[0]
    for t in tasks[1:]:
        if not np.array_equal(t.word_table.codes, first.word_table.codes) or t.word_table.bias != first.word_table.bias:
            raise ValueError(f"tasks {first.name} and {t.name} do not share one word-embedding table")
    shared = _BlobWriter(out_dir / SHARED_BLOB_FILE)
    manifest = {"format": FORMAT,
                "embedding": shared.add_af("word_embeddings", first.word_table),
                "tables": {name: shared.add(f"table.{name}", tab, "int32") for name, tab in first.tables.items()},
                "tasks": {}, "blobs": {}}
    shared.close()
    manifest["blobs"].update(shared.index)
    for t in tasks:
        w = _BlobWriter(out_dir / f"{t.name}.bin")
        vec_dtype = lambda name: "int32" if name.endswith(".gain") else "int16"
        manifest["tasks"][t.name] = {
            "config": t.cfg.to_dict(), "formats": t.formats, "threshold": t.threshold,
            "threshold_q16": t.threshold_q16, "spans": t.spans,
            "live_heads": [int(h) for h in t.live_heads],
            "export_saturations": t.export_saturations,
            "matrices": {name: w.add_af(f"{t.name}.{name}", m) for name, m in t.matrices.items()},
            "vectors": {name: w.add(f"{t.name}.{name}", v, vec_dtype(name)) for name, v in t.vectors.items()},
            "span_mask": w.add(f"{t.name}.span_mask", t.span_mask, "uint16"),
            "predictor": w.add(f"{t.name}.predictor", t.predictor, "int32"),
            "binned_predictor": t.binned.to_dict(),
        }
        w.close()
        manifest["blobs"].update(w.index)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return out_dir


# ---- loading ------------------------------------------------------------------------------
class _BlobReader:
    def __init__(self, root: Path, index: dict):
        self.root, self.index, self.files = root, index, {}

    def _file(self, name: str) -> bytes:
        if name not in self.files:
            path = self.root / name
            if not path.is_file():
                raise ArtifactError(f"artifact {self.root}: blob file {name} is missing")
            self.files[name] = path.read_bytes()
        return self.files[name]

    def get(self, key: str) -> np.ndarray:
        if key not in self.index:
            raise ArtifactError(f"artifact {self.root}: manifest names blob {key!r} but does not index it")
        e = self.index[key]
        data = self._file(e["file"])[e["offset"]: e["offset"] + e["bytes"]]
        if len(data) != e["bytes"]:
            raise ArtifactError(f"artifact {self.root}: {e['file']} is truncated "
                                f"(blob {key} needs bytes {e['offset']}..{e['offset'] + e['bytes']})")
        if hashlib.sha256(data).hexdigest() != e["sha256"]:
            raise ArtifactError(f"artifact {self.root}: blob {key} in {e['file']} fails its sha256 check (corrupt)")
        arr = np.frombuffer(data, dtype=e["dtype"])
        if arr.size != int(np.prod(e["shape"])):
            raise ArtifactError(f"artifact {self.root}: blob {key} holds {arr.size} values, shape {e['shape']}")
        return arr.reshape(e["shape"]).astype(np.int64 if e["dtype"] != "uint8" else np.uint8)

    def get_af(self, key: str, entry: dict) -> AfTensor:
        shape = tuple(entry["shape"])
        mask = np.unpackbits(self.get(entry["mask"]), count=int(np.prod(shape))).astype(bool)
        codes = self.get(entry["codes"])
        if mask.sum() != codes.size:
            raise ArtifactError(f"artifact {self.root}: {key} bitmask has {mask.sum()} entries "
                                f"but {codes.size} codes")
        if not af.BIAS_MIN <= entry["bias"] <= af.BIAS_MAX:
            raise ArtifactError(f"artifact {self.root}: {key} exponent bias {entry['bias']} is out of range")
        if np.any(af.is_zero(codes)):
            raise ArtifactError(f"artifact {self.root}: {key} stores zero codes among its non-zeros")
        dense = np.zeros(mask.size, dtype=np.uint8)
        dense[mask] = codes
        return AfTensor(dense.reshape(shape), int(entry["bias"]))


def load_artifact(path: Path, tasks: list[str] | None = None) -> dict[str, HwTask]:
    """Tasks of an artifact folder, verified; `tasks` limits which are read."""
    root = Path(path)
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise ArtifactError(f"no accelerator artifact in {root} (missing {MANIFEST})")
    manifest = read_versioned_json(mpath, FORMAT, ArtifactError)
    reader = _BlobReader(root, manifest.get("blobs", {}))
    try:
        word = reader.get_af("word_embeddings", manifest["embedding"])
        tables = {name: reader.get(key) for name, key in manifest["tables"].items()}
        wanted = manifest["tasks"] if tasks is None else tasks
        out = {}
        for name in wanted:
            if name not in manifest["tasks"]:
                raise ArtifactError(f"artifact {root} has no task {name!r} "
                                    f"(it has {', '.join(sorted(manifest['tasks']))})")
            out[name] = _load_task(reader, name, manifest["tasks"][name], word, tables)
    except KeyError as e:
        raise ArtifactError(f"{mpath}: manifest entry {e} is missing") from None
    return out


def _load_task(reader: _BlobReader, name: str, m: dict, word: AfTensor, tables: dict) -> HwTask:
    cfg = ModelConfig.from_dict(m["config"])
    if word.codes.shape != (cfg.vocab_size, cfg.embed_dim):
        raise ArtifactError(f"task {name}: word table {word.codes.shape} does not fit config "
                            f"({cfg.vocab_size}, {cfg.embed_dim})")
    task = HwTask(name, cfg, {s: int(m["formats"][s]) for s in SITES}, float(m["threshold"]),
                  {k: reader.get_af(f"{name}.{k}", e) for k, e in m["matrices"].items()},
                  {k: reader.get(key) for k, key in m["vectors"].items()},
                  reader.get(m["span_mask"]), reader.get(m["predictor"]),
                  Binned.from_dict(m["binned_predictor"]), word, tables,
                  list(m.get("spans", [])), dict(m.get("export_saturations", {})))
    if task.predictor.shape != (ROWS, cfg.layers - 2):
        raise ArtifactError(f"task {name}: predictor table {task.predictor.shape}, expected {(ROWS, cfg.layers - 2)}")
    try:
        check_binned(task.binned.bins, task.binned.edges, cfg.layers, MAX_CLASSES)
    except ValueError as e:
        raise ArtifactError(f"task {name}: {e}") from None
    if task.span_mask.shape != (cfg.heads, cfg.max_len):
        raise ArtifactError(f"task {name}: span mask {task.span_mask.shape}, expected {(cfg.heads, cfg.max_len)}")
    return task


