"""The C-sim fuzzer: random and adversarial tasks and sentences (fuzz_cases.py) through the golden
model and the C-simulation, one phase-1 + phase-2 call sequence per case, compared word by word:
the exit layer, every logit and entropy word, both predicted layers, H1 and every counter (the
cycle counters against the cost model, saturations and gated MACs against the golden model).

A mismatch is reported with its seed and case index and a reproducer folder (the task as an
export artifact and case.json with the exact tokens, threshold and stop) that `replay` runs
again. A sample of the cases also runs through a library built with AddressSanitizer and
UndefinedBehaviorSanitizer, in a child process that preloads the ASan runtime (an instrumented
library loaded into an uninstrumented Python needs it first in the link order).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from edgebert.accel import cost, images
from edgebert.accel.artifact import load_artifact, save_artifact
from edgebert.accel.golden import GoldenModel
from edgebert.accel.interface import COUNTERS, MAX_CLASSES, MAX_LAYERS, Command, decode_counters
from edgebert.accel.interface import Result as R
from edgebert.accel.numerics import functions as fn
from edgebert.accel.numerics.fixed import Saturations
from edgebert.core.paths import REPO_ROOT
from edgebert.sim import csim
from edgebert.sim.fuzz_cases import CATEGORIES, Case, Group, build_group, find_case, groups

OUT_DIR = REPO_ROOT / "build" / "fuzz"
# Every clip the golden model counts, by path: the requantizer's output sites, the embedding
# sum (emb), attention scores and context, the residual add, GELU, and LayerNorm's outputs.
SAT_SITES = ("emb", "hidden", "q", "k", "v", "score", "ctx", "ffn", "pool", "logit", "residual", "gelu",
             "layernorm.emb", "layernorm.hidden")
MAX_REPRODUCERS = 5


class _Golden(GoldenModel):
    """The golden model with LayerNorm's clips counted apart from the requantizer's clips at the
    same site, so that each saturation path has its own counter (same arithmetic, same total)."""

    def layernorm(self, x, prefix, site):
        before = self.sat[site]
        y = super().layernorm(x, prefix, site)
        moved = self.sat[site] - before
        if moved:
            self.sat[site] -= moved
            self.sat[f"layernorm.{site}"] += moved
        return y


def result_fields(words: np.ndarray, phase: int) -> dict[str, int]:
    """Every result word a phase writes, by name (phase 2 leaves the phase-1-only words)."""
    w = np.asarray(words, dtype=np.uint32).view(np.int32)
    out = {"exit_layer": int(w[R.EXIT_LAYER])}
    if phase == 1:
        out.update(predicted=int(w[R.PREDICTED]), exit_now=int(w[R.EXIT_NOW]), h1=int(w[R.H1]),
                   predicted_binned=int(w[R.PREDICTED_BINNED]))
    out.update({f"logit[{c}]": int(w[R.LOGITS + c]) for c in range(MAX_CLASSES)})
    out.update({f"entropy[{l}]": int(w[R.ENTROPY + l - 1]) for l in range(1, MAX_LAYERS + 1)})
    out.update({f"counter.{k}": v for k, v in decode_counters(words).items()})
    return out


def _expected(exit_word: int, logits, entropies: dict[int, int], counts: Counter, sat: int, gated: int,
              **phase1) -> dict[str, int]:
    out = {"exit_layer": int(exit_word), **{k: int(v) for k, v in phase1.items()}}
    out.update({f"logit[{c}]": int(logits[c]) if c < len(logits) else 0 for c in range(MAX_CLASSES)})
    out.update({f"entropy[{l}]": int(entropies.get(l, 0)) for l in range(1, MAX_LAYERS + 1)})
    counts = dict(counts, saturations=sat, gated_macs=gated)
    out.update({f"counter.{k}": int(counts.get(k, 0)) for k in COUNTERS})
    return out


def _differences(phase: int, got: dict, want: dict) -> list[str]:
    return [f"phase {phase} {k}: C-sim {got.get(k)}, golden {want[k]}" for k in want if got.get(k) != want[k]]


class Fuzzer:
    """One C-sim accelerator (shared tables loaded once) and the golden model of the task loaded."""

    def __init__(self, variant: str = "native", library: Path | None = None):
        self.acc = csim.CSimAccelerator(variant, library=library)
        self.acc.load_shared(images.shared_image(fn.tables()))
        self.variant = variant

    def load(self, task) -> None:
        self.task = task
        self.acc.load_task(images.task_image(task))
        self.acc.set_embedding(images.embedding_image(task.word_table))
        self.golden = _Golden(task)
        ramps = images.ramp_record_words(task) if self.acc.limits["ramps_in_ddr"] else None
        self.sched = cost.Schedule(task.cfg, self.acc.limits["n"], len(task.live_heads), ramps)

    def _phase(self, cmd: int, **args) -> np.ndarray:
        return self.acc.call(cmd, **args)

    def run(self, case: Case) -> tuple[list[str], Counter, int]:
        """(differences, saturations by site, exit layer) of one case; resolves an H1-relative
        threshold in place."""
        g, task = self.golden, self.task
        ids, types = np.asarray(case.ids), np.asarray(case.types)
        if case.threshold_h1 is not None:
            case.threshold = g.phase1(ids, types, 0)[0].entropy + case.threshold_h1
            case.threshold_h1 = None
        thr = case.threshold
        g.sat = Saturations()
        p1, ops1 = g.phase1(ids, types, thr)
        sat1, sites = sum(g.sat.values()), Counter(g.sat)
        want = _expected(p1.exit_now, p1.logits, {1: p1.entropy},
                         self.sched.phase1(images.embedding_record_words(task.word_table, ids)), sat1,
                         ops1["gated_macs"], predicted=p1.predicted_layer, exit_now=p1.exit_now, h1=p1.entropy,
                         predicted_binned=p1.predicted_binned)
        try:
            words = self._phase(Command.PHASE1, tokens=images.token_words(ids, types), length=len(ids),
                                threshold=thr)
        except csim.CSimError as e:
            return [f"phase 1: {e}"], sites, 0
        diffs = _differences(1, result_fields(words, 1), want)
        stop = _stop_layer(case.stop, p1, task.cfg.layers)
        if p1.exit_now or stop is None:
            return diffs, sites, int(p1.exit_now)          # 0: phase 1 only (no phase 2 asked for)
        g.sat = Saturations()
        logits, layer, ents, ops2 = g.phase2(p1, thr, stop)
        sites.update(g.sat)
        want = _expected(layer, logits, dict(zip(range(2, layer + 1), ents)),
                         self.sched.phase2(len(ids), layer - 1), sum(g.sat.values()), ops2["gated_macs"])
        try:
            words = self._phase(Command.PHASE2, threshold=thr, stop_layer=stop)
        except csim.CSimError as e:
            return diffs + [f"phase 2: {e}"], sites, layer
        return diffs + _differences(2, result_fields(words, 2), want), sites, layer

    def close(self) -> None:
        self.acc.close()


def _stop_layer(stop, p1, layers: int) -> int | None:
    if stop == "none":
        return None
    if stop == "last":
        return layers
    if stop == "edgebert":
        return max(p1.predicted_layer, 2)
    if stop == "binned":
        return max(p1.predicted_binned, 2)
    return int(stop)


# ---- a run -----------------------------------------------------------------------------------
class Tally:
    def __init__(self):
        self.n = self.mismatches = self.tasks = 0
        self.categories, self.sat_inputs, self.exits = Counter(), Counter(), Counter()
        self.seconds = Counter()              # per category, the cases only (not building the task)
        self.reproducers: list[dict] = []

    def summary(self) -> dict:
        return {"n": self.n, "mismatches": self.mismatches, "tasks": self.tasks,
                "categories": {c: self.categories[c] for c in CATEGORIES},
                "category_seconds": {c: round(self.seconds[c], 1) for c in CATEGORIES},
                "saturations": {s: self.sat_inputs[s] for s in SAT_SITES},
                "exit_layers": {str(k) if k else "phase1_only": self.exits[k] for k in sorted(self.exits)},
                "reproducers": self.reproducers}


def run_groups(seed: int, grps, variant: str = "native", library: Path | None = None,
               out_dir: Path | None = OUT_DIR, tally: Tally | None = None, progress=None,
               before_case=None) -> Tally:
    """Run every case of `grps` (fuzz_cases.Group, cases not built yet); mismatches get a
    reproducer folder under `out_dir` (up to MAX_REPRODUCERS). `progress(cases)` follows each
    group, `before_case(index)` precedes each case (what a crash report names)."""
    tally = tally or Tally()
    fz = Fuzzer(variant, library)
    with threadpool_limits(1, "blas"):                # tiny products: BLAS threads cost more than they give
        for grp in grps:
            grp = build_group(seed, grp)
            fz.load(grp.task)
            tally.tasks += 1
            t0 = time.perf_counter()
            for case in grp.cases:
                if before_case:
                    before_case(case.index)
                try:
                    diffs, sites, exit_layer = fz.run(case)
                except Exception as e:                # a model that raises is a finding too
                    diffs, sites, exit_layer = [f"error: {type(e).__name__}: {e}"], Counter(), 0
                tally.n += 1
                tally.categories[case.category] += 1
                tally.sat_inputs.update(sites.keys())
                tally.exits[exit_layer] += 1
                if diffs:
                    tally.mismatches += 1
                    if len(tally.reproducers) < MAX_REPRODUCERS:
                        tally.reproducers.append(_reproducer(seed, grp, case, diffs, variant, out_dir))
            tally.seconds[grp.category] += time.perf_counter() - t0
            if progress:
                progress(len(grp.cases))
    fz.close()
    return tally


def _reproducer(seed: int, grp: Group, case: Case, diffs: list[str], variant: str, out_dir: Path | None) -> dict:
    rep = {"seed": seed, "index": case.index, "category": case.category, "differences": diffs[:8]}
    if out_dir is not None:
        folder = Path(out_dir) / f"seed{seed}-case{case.index}"
        save_artifact([grp.task], folder)
        (folder / "case.json").write_text(json.dumps({"seed": seed, "variant": variant, **asdict(case),
                                                      "differences": diffs}, indent=1))
        rep["file"] = str(folder / "case.json")
    return rep


def replay(path: Path, variant: str | None = None) -> dict:
    """Run a reproducer's case again, on a fresh accelerator."""
    path = Path(path)
    spec = json.loads(path.read_text())
    task = load_artifact(path.parent)["fuzz"]
    case = Case(**{k: spec[k] for k in ("index", "category", "ids", "types", "threshold", "stop", "threshold_h1")})
    fz = Fuzzer(variant or spec["variant"])
    fz.load(task)
    with threadpool_limits(1, "blas"):
        diffs, _, exit_layer = fz.run(case)
    fz.close()
    return {"file": str(path), "seed": spec["seed"], "index": spec["index"], "mismatch": bool(diffs),
            "exit_layer": exit_layer, "differences": diffs, "recorded": spec["differences"]}


def replay_index(seed: int, index: int, variant: str = "native") -> list[str]:
    """Run case `index` of a seed again from the seed alone."""
    grp, case = find_case(seed, index)
    fz = Fuzzer(variant)
    fz.load(grp.task)
    with threadpool_limits(1, "blas"):
        diffs = fz.run(case)[0]
    fz.close()
    return diffs


# ---- the sanitizer sample --------------------------------------------------------------------
def sample_groups(seed: int, n: int, k: int) -> list[Group]:
    """Groups drawn at random from the run's, cut so that they hold min(k, n) cases."""
    grps = list(groups(seed, n))
    order = np.random.default_rng([seed, 7]).permutation(len(grps))
    picked, total = [], 0
    for i in order:
        if total >= min(k, n):
            break
        g = grps[i]
        g.size = min(g.size, min(k, n) - total)
        picked.append(g)
        total += g.size
    return sorted(picked, key=lambda g: g.index)


# The hls4ml ap_types headers shift negative values left when an ap_int is built from a negative
# int (undefined in C++14, what every compiler does in practice): that one check is made
# recoverable in the ap build and suppressed in those headers alone.
AP_SUPPRESSIONS = "shift-base:ap_private.h\n"
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer", "exceeds its declared")
CASE_MARK = "fuzz case "                       # the child's stderr names each case before it runs


def sanitized_library(variant: str) -> Path:
    """ASan + UBSan, and EB_CHECK_WIDTHS: an operand outside its declared width aborts."""
    recover = ["-fsanitize-recover=shift-base"] if variant == "ap" else []
    flags = csim.compile_flags(variant, defines={"EB_CHECK_WIDTHS": 1}, sanitize=True) + recover
    return csim.build(f"libedgebert-{variant}-asan", [csim.HLS_DIR / "src" / "bridge.cpp"], flags, shared=True)


def start_sanitized(seed: int, n: int, k: int, variant: str) -> dict:
    """Start the sample in a child process (it runs beside the main loop); `finish_sanitized`
    collects it."""
    lib = sanitized_library(variant)
    picked = sample_groups(seed, n, k)
    runtime = subprocess.run([csim.compiler(), "-print-file-name=libasan.so"], capture_output=True,
                             text=True).stdout.strip()
    ubsan = "print_stacktrace=1:halt_on_error=1"
    if variant == "ap":
        supp = csim.BUILD_DIR / "ubsan-ap.supp"
        supp.write_text(AP_SUPPRESSIONS)
        ubsan += f":suppressions={supp}"
    env = dict(os.environ, LD_PRELOAD=runtime, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS=ubsan)
    arg = json.dumps({"seed": seed, "variant": variant, "library": str(lib),
                      "groups": [[g.index, g.category, g.start, g.size] for g in picked]})
    proc = subprocess.Popen([sys.executable, "-m", "edgebert.sim.fuzz", arg], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return {"proc": proc, "sample": sum(g.size for g in picked),
            "suppressed": AP_SUPPRESSIONS.strip() if variant == "ap" else None}


def finish_sanitized(job: dict) -> dict:
    """The sample's result: clean when the child ran every case, matched the golden model on
    each and no sanitizer spoke; otherwise the reports and the case last started."""
    out, err = job["proc"].communicate()
    rc = job["proc"].returncode
    try:
        child = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        child = {}
    marks = [ln for ln in err.splitlines() if ln.startswith(CASE_MARK)]
    err = "\n".join(ln for ln in err.splitlines() if not ln.startswith(CASE_MARK))
    reports = [ln for ln in err.splitlines() if any(m in ln for m in SANITIZER_MARKS)]
    clean = rc == 0 and not reports and child.get("n") == job["sample"] and child.get("mismatches") == 0
    extra = {} if clean else {"last_case": int(marks[-1][len(CASE_MARK):]) if marks else None,
                              "reproducers": child.get("reproducers", []), "stderr_tail": err[-2000:]}
    return {"sample": job["sample"], "n": child.get("n", 0), "mismatches": child.get("mismatches"), "clean": clean,
            "sanitizer_reports": reports[:5], "returncode": rc, "seconds": child.get("seconds"),
            "suppressed": job.get("suppressed"), **extra}


_shared = None                                 # (cases run, case in flight per worker) in a worker


def _init_worker(done, current) -> None:
    global _shared
    _shared = done, current


def _count(k: int) -> None:
    with _shared[0].get_lock():
        _shared[0].value += k


def run_shard(seed: int, n: int, shard: int, jobs: int, variant: str, library: Path, out_dir: Path | None) -> Tally:
    """Every `jobs`-th group of the run, from group `shard` on (one worker process)."""
    grps = (g for g in groups(seed, n) if g.index % jobs == shard)
    return run_groups(seed, grps, variant, library, out_dir=out_dir, progress=_count,
                      before_case=lambda i: _shared[1].__setitem__(shard, i))


def _merge(tallies: list[Tally]) -> Tally:
    out = Tally()
    for t in tallies:
        out.n, out.mismatches, out.tasks = out.n + t.n, out.mismatches + t.mismatches, out.tasks + t.tasks
        for mine, theirs in ((out.categories, t.categories), (out.sat_inputs, t.sat_inputs),
                             (out.exits, t.exits), (out.seconds, t.seconds)):
            mine.update(theirs)
        out.reproducers += t.reproducers
    out.reproducers = sorted(out.reproducers, key=lambda r: r["index"])[:MAX_REPRODUCERS]
    return out


def run_parallel(seed: int, n: int, variant: str, library: Path, jobs: int, out_dir: Path | None,
                 progress=None) -> Tally:
    """The run's groups over `jobs` worker processes (the golden model is the bottleneck and
    runs on one core each), interleaved so that each gets a like share of every category. A
    worker that dies (a crash in the C-sim) ends the run with the cases then in flight."""
    if jobs <= 1:
        return run_groups(seed, groups(seed, n), variant, library, out_dir=out_dir, progress=progress)
    import multiprocessing as mp
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool
    ctx = mp.get_context("spawn")                 # fresh interpreters: no BLAS threads forked
    done, current = ctx.Value("q", 0), ctx.Array("q", [-1] * jobs)
    with ProcessPoolExecutor(jobs, ctx, _init_worker, (done, current)) as pool:
        futures = [pool.submit(run_shard, seed, n, s, jobs, variant, library, out_dir) for s in range(jobs)]
        seen = 0
        while True:
            finished, running = wait(futures, 1.0, FIRST_EXCEPTION)
            if progress and done.value > seen:
                progress(done.value - seen)
                seen = done.value
            if not running or any(f.exception() for f in finished):
                break
        try:
            return _merge([f.result() for f in futures])
        except BrokenProcessPool:
            raise FuzzCrash(seed, [i for i in current if i >= 0], variant, out_dir) from None


class FuzzCrash(csim.CSimError):
    """A worker died: the cases in flight, one of which crashed it, with their reproducers."""

    def __init__(self, seed: int, indices: list[int], variant: str, out_dir: Path | None):
        self.reproducers = []
        for index in indices:
            grp, case = find_case(seed, index)
            self.reproducers.append(_reproducer(seed, grp, case, ["crash (in flight)"], variant, out_dir))
        super().__init__(f"a fuzz worker died (a crash in the C-sim?) while running case(s) "
                         f"{', '.join(map(str, indices))} of seed {seed}: "
                         + "; ".join(r.get("file", "") for r in self.reproducers))


def fuzz(n: int, seed: int = 0, variant: str = "native", sanitize_sample: int = 1000,
         out_dir: Path | None = OUT_DIR, jobs: int = 1, progress=None) -> dict:
    """The whole run: n cases, and the sanitizer sample (run alongside in its own process)."""
    t0 = time.perf_counter()
    library = csim.build_library(variant)         # one build for every worker, whatever changes later
    job = start_sanitized(seed, n, sanitize_sample, variant) if sanitize_sample > 0 else None
    t1 = time.perf_counter()
    tally = run_parallel(seed, n, variant, library, jobs, out_dir, progress)
    t_main = time.perf_counter() - t1
    san = finish_sanitized(job) if job else {"sample": 0, "clean": None}
    seconds = time.perf_counter() - t0
    return {"seed": seed, "variant": variant, **tally.summary(), "seconds": round(seconds, 1),
            "jobs": jobs, "main_loop_s": round(t_main, 1),
            "cases_per_s": round(tally.n / t_main, 1) if t_main else 0.0,
            "sanitizer": san}


def _sanitized_child(arg: str) -> None:
    t0 = time.perf_counter()
    spec = json.loads(arg)
    grps = [Group(*g) for g in spec["groups"]]
    tally = run_groups(spec["seed"], grps, spec["variant"], Path(spec["library"]), out_dir=None,
                       before_case=lambda i: print(f"{CASE_MARK}{i}", file=sys.stderr, flush=True))
    print(json.dumps({"n": tally.n, "mismatches": tally.mismatches, "reproducers": tally.reproducers,
                      "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    _sanitized_child(sys.argv[1])
