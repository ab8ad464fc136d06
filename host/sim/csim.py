"""The accelerator's C-simulation: build the HLS C++ with g++ and drive it through ctypes.

The shared library is the HLS top-level code (`hls/src/edgebert_accel.h`) behind the
`extern "C"` bridge (`hls/src/bridge.cpp`). Builds are cached under `build/csim/`, keyed by the
sources and flags. Two arithmetic type families compile from the same C++:

    ap      the hls4ml wheel's ap_int/ap_uint headers (what Vitis HLS synthesizes)
    native  C++ integers of at least the same widths (fast C-simulation; same results)
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgebert.accel import interface
from edgebert.accel.interface import (
    LIMIT_DEFAULTS,
    LIMIT_NAMES,
    RESULT_WORDS,
    SCHEDULE_NAMES,
    Command,
    PhaseResult,
    TaskHeader,
    decode_counters,
    decode_phase1,
    decode_phase2,
    status_message,
)
from edgebert.core.errors import DeviceError
from edgebert.core.paths import REPO_ROOT

HLS_DIR = REPO_ROOT / "hls"
BUILD_DIR = REPO_ROOT / "build" / "csim"
VARIANTS = ("native", "ap")
DEFAULT_N = LIMIT_DEFAULTS["EB_N"]    # the MAC array of the default build


class CSimError(DeviceError):
    """The C-simulation refused a command (its status code names why) or could not be built."""


def ap_types_dir() -> Path:
    """The ap_int/ap_fixed headers that the hls4ml wheel ships."""
    import importlib.util
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise CSimError("hls4ml is not installed; it provides the ap_types headers (pip install -r requirements.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"
    if not (path / "ap_int.h").is_file():
        raise CSimError(f"no ap_int.h under {path}: the hls4ml installation is incomplete")
    return path


def compiler() -> str:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise CSimError(f"C++ compiler {cxx!r} not found; install g++ (Debian: apt-get install g++)")
    return cxx


def sources() -> list[Path]:
    return sorted((HLS_DIR / "include").glob("*.h")) + sorted((HLS_DIR / "src").glob("*"))


def compile_flags(variant: str = "native", n: int | None = None, defines: dict | None = None,
                  sanitize: bool = False, hls_dir: Path = HLS_DIR) -> list[str]:
    """g++ flags of a build; `hls_dir` names another copy of the HLS sources."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown C-sim variant {variant!r}; choose from {', '.join(VARIANTS)}")
    flags = ["-std=c++14", "-fPIC", "-Wall", "-Wno-unknown-pragmas",
             f"-I{hls_dir / 'include'}", f"-I{hls_dir / 'src'}", "-isystem", str(ap_types_dir())]
    flags += ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
              "-fno-sanitize-recover=all"] if sanitize else ["-O3"]
    if not sanitize and platform.machine() in ("x86_64", "AMD64"):
        flags.append("-march=native")            # the library is built where it runs
    if variant == "native":
        flags.append("-DEB_NATIVE_TYPES")
    flags.append(f"-DEB_N={int(n or DEFAULT_N)}")
    for k, v in (defines or {}).items():
        flags.append(f"-D{k}={v}")
    return flags


def build(target: str, files: list[Path], flags: list[str], shared: bool) -> Path:
    """Compile `files` into build/csim/<target>-<hash>[.so]; reuse an existing build."""
    key = hashlib.sha256(" ".join(flags + [str(shared)]).encode())
    for f in sources() + list(files):
        key.update(f.read_bytes())
    out = BUILD_DIR / f"{target}-{key.hexdigest()[:16]}{'.so' if shared else ''}"
    if out.is_file():
        return out
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BUILD_DIR) as tmp:
        tmp_out = Path(tmp) / out.name
        _compile(files, flags, shared, tmp_out)
        os.replace(tmp_out, out)                  # atomic: concurrent builders never see half a file
    return out


def _compile(files: list[Path], flags: list[str], shared: bool, out: Path) -> None:
    cmd = [compiler(), *flags, *(["-shared"] if shared else []), *map(str, files), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CSimError(f"C-sim build failed ({' '.join(cmd)}):\n{proc.stderr[-4000:]}")


def probe_interface(hls_dir: Path = HLS_DIR, defines: dict | None = None) -> dict[str, int]:
    """Every constant of the interface (interface.cpp_constants) as the compiler sees it through
    the kernels' headers in `hls_dir`: a program that includes them prints each value."""
    names = list(interface.cpp_constants())
    body = "".join(f'    std::printf("%s %lld\\n", "{n}", (long long)({n}));\n' for n in names)
    program = f'#include <cstdio>\n#include "edgebert_accel.h"\nint main() {{\n{body}    return 0;\n}}\n'
    flags = [f for f in compile_flags("native", defines=defines, hls_dir=hls_dir) if f not in ("-O3", "-fPIC")]
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "probe.cpp", Path(tmp) / "probe"
        src.write_text(program)
        _compile([src], [*flags, "-O0"], False, exe)
        lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    return {name: int(value) for name, value in (line.split() for line in lines)}


def build_library(variant: str = "native", n: int | None = None, defines: dict | None = None) -> Path:
    return build(f"libedgebert-{variant}", [HLS_DIR / "src" / "bridge.cpp"],
                 compile_flags(variant, n, defines), shared=True)


TESTBENCHES = ("af", "mac", "softmax", "layernorm", "pwl", "entropy", "exit")


def build_testbench(name: str, variant: str = "native", n: int | None = None,
                    sanitize: bool = False, defines: dict | None = None) -> Path:
    """A per-operator testbench (tb_<name>.cpp), or the whole accelerator ("accel", linked with
    the bridge)."""
    files = [HLS_DIR / "tb" / f"tb_{name}.cpp"]
    if name == "accel":
        files.append(HLS_DIR / "src" / "bridge.cpp")
    elif name not in TESTBENCHES:
        raise ValueError(f"unknown testbench {name!r}; known: accel, {', '.join(TESTBENCHES)}")
    flags = compile_flags(variant, n, defines, sanitize=sanitize) + [f"-I{HLS_DIR / 'tb'}"]
    tag = f"tb_{name}-{variant}{'-asan' if sanitize else ''}"
    return build(tag, files, [f for f in flags if f != "-fPIC"], shared=False)


@dataclass
class TestbenchRun:
    name: str
    passed: int
    failed: int
    returncode: int
    output: str


def run_testbench(exe: Path, vectors: Path, name: str = "", timeout: float = 1800) -> TestbenchRun:
    """Run a testbench binary on a vectors folder and read its "N passed, N failed" line."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    proc = subprocess.run([str(exe), str(vectors)], capture_output=True, text=True, timeout=timeout, env=env)
    text = proc.stdout + proc.stderr
    passed = failed = 0
    for line in proc.stdout.splitlines():
        head, _, tail = line.rpartition(": ")
        parts = tail.replace(",", "").split()
        if len(parts) == 4 and parts[1] == "passed" and parts[3] == "failed":
            passed, failed = int(parts[0]), int(parts[2])
            name = name or head
    return TestbenchRun(name, passed, failed, proc.returncode, text)


def _u32(a: np.ndarray):
    a = np.ascontiguousarray(a, dtype=np.uint32)
    return a, a.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32))


class CSimAccelerator:
    """One accelerator instance in C-simulation (its own on-chip state)."""

    def __init__(self, variant: str = "native", n: int | None = None, library: Path | None = None,
                 defines: dict | None = None):
        path = library or build_library(variant, n, defines)
        self.lib = ctypes.CDLL(str(path))
        self.lib.eb_create.restype = ctypes.c_void_p
        self.lib.eb_destroy.argtypes = [ctypes.c_void_p]
        self.lib.eb_set_embedding.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32), ctypes.c_long]
        u32p = ctypes.POINTER(ctypes.c_uint32)
        self.lib.eb_call.argtypes = [ctypes.c_void_p, ctypes.c_int, u32p, ctypes.c_int, u32p, ctypes.c_int,
                                     ctypes.c_int, ctypes.c_int, u32p]
        self.lib.eb_call.restype = ctypes.c_int
        self.handle = self.lib.eb_create()
        if not self.handle:
            raise CSimError("could not allocate the accelerator state")
        self.limits = dict(zip(LIMIT_NAMES, self._ints("eb_limits", len(LIMIT_NAMES))))
        self.schedule = dict(zip(SCHEDULE_NAMES, self._ints("eb_schedule", len(SCHEDULE_NAMES))))
        self._results = np.zeros(RESULT_WORDS, dtype=np.uint32)
        self._embedding = None
        self.classes = 0

    def _ints(self, fn: str, count: int) -> list[int]:
        buf = (ctypes.c_int * count)()
        getattr(self.lib, fn)(buf)
        return list(buf)

    def close(self) -> None:
        if self.handle:
            self.lib.eb_destroy(self.handle)
            self.handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _call(self, cmd: int, image=None, tokens=None, length=0, threshold=0, stop_layer=0) -> np.ndarray:
        img, img_p = _u32(image if image is not None else np.zeros(0, np.uint32))
        tok, tok_p = _u32(tokens if tokens is not None else np.zeros(0, np.uint32))
        res, res_p = _u32(self._results)
        status = self.lib.eb_call(self.handle, int(cmd), img_p if image is not None else None, img.size,
                                  tok_p if tokens is not None else None, int(length), int(threshold),
                                  int(stop_layer), res_p)
        if status:
            raise CSimError(status_message(status))
        return res.copy()

    def call(self, cmd: int, **args) -> np.ndarray:
        """One command's raw result words (RESULT_WORDS uint32), for checks of every word."""
        return self._call(cmd, **args)

    # ---- commands ------------------------------------------------------------------------
    def load_shared(self, image: np.ndarray) -> dict[str, int]:
        return decode_counters(self._call(Command.LOAD_SHARED, image=image))

    def load_task(self, image: np.ndarray) -> dict[str, int]:
        """Load one task's weights (the multi-task switch); returns the load counters."""
        res = self._call(Command.LOAD_TASK, image=image)
        self.classes = int(image[TaskHeader.CLASSES])
        return decode_counters(res)

    def set_embedding(self, image: np.ndarray) -> None:
        """Place the embedding image in (simulated) DDR; it is read a row per token."""
        self._embedding, ptr = _u32(image)
        self.lib.eb_set_embedding(self.handle, ptr, self._embedding.size)

    def phase1(self, tokens: np.ndarray, threshold: int) -> PhaseResult:
        res = self._call(Command.PHASE1, tokens=tokens, length=len(tokens), threshold=threshold)
        return decode_phase1(res, self.classes)

    def phase2(self, threshold: int, stop_layer: int) -> PhaseResult:
        return decode_phase2(self._call(Command.PHASE2, threshold=threshold, stop_layer=stop_layer), self.classes)


@dataclass
class SentenceRun:
    logits: np.ndarray
    exit_layer: int
    entropies: list[int]         # Q.16, layers 1..exit_layer
    predicted_layer: int         # EdgeBERT's table
    phase1: dict[str, int]
    phase2: dict[str, int]       # empty when the sentence left at layer 1
    predicted_binned: int = 0    # the binned predictor

    @property
    def saturations(self) -> int:
        return self.phase1["saturations"] + self.phase2.get("saturations", 0)


POLICIES = ("ee", "predictor")


def run_sentence(acc: CSimAccelerator, tokens: np.ndarray, threshold: int, layers: int,
                 policy: str = "ee") -> SentenceRun:
    """Phase 1, then (unless layer 1 exits) phase 2 up to the last layer (`ee`) or up to the
    predicted exit layer (`predictor`), early exit checked at every layer."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose from {', '.join(POLICIES)}")
    p1 = acc.phase1(tokens, threshold)
    if p1.exit_now:
        return SentenceRun(p1.logits, 1, [p1.h1], p1.predicted_layer, p1.counters, {}, p1.predicted_binned)
    stop = max(p1.predicted_layer, 2) if policy == "predictor" else layers
    p2 = acc.phase2(threshold, stop)
    ents = [p1.h1] + [p2.entropies[l] for l in range(2, p2.exit_layer + 1)]
    return SentenceRun(p2.logits, p2.exit_layer, ents, p1.predicted_layer, p1.counters, p2.counters,
                       p1.predicted_binned)


def load_accelerator(task, variant: str = "native", n: int | None = None,
                     defines: dict | None = None) -> CSimAccelerator:
    """A C-sim accelerator with the shared tables, the task and its embedding table loaded."""
    from edgebert.accel import images
    acc = CSimAccelerator(variant, n, defines=defines)
    acc.load_shared(images.shared_image(task.tables))
    acc.load_task(images.task_image(task))
    acc.set_embedding(images.embedding_image(task.word_table))
    return acc
