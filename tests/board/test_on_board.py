"""On a PYNQ board with the EdgeBERT overlay: the accelerator's results equal those of the
C-simulation of the same build bit for bit, its cycle counters equal the cycle model's, and the
time a phase takes follows its counted cycles at the clock the host set.

Opt in on the board, inside the PYNQ virtual environment with the host software installed
(docs/board.md, section 2) and pytest:

    EDGEBERT_OVERLAY=bitstreams/zcu104/edgebert_zcu104.bit python -m pytest -m board

- EDGEBERT_OVERLAY: the overlay's `.bit`, with its `.hwh` beside it.
- EDGEBERT_BOARD: zcu104, kv260 or pynq-z2; by default PYNQ's own BOARD variable.
- EDGEBERT_TOKENS: pre-tokenized SST-2 dev sentences (`edgebert tokenize --task sst2 --board B`
  on a workstation) for images without the tokenizers wheel (PYNQ-Z2).

The C-simulation reference is built on the board: it needs g++ and the ap_types headers that
the hls4ml wheel ships (`pip install --no-deps hls4ml==1.3.0`). Whatever is missing fails the
tests with a message naming it, rather than skipping them: whoever opts in wants to know.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgebert.accel import cost, images
from edgebert.accel.builds import get_build, schedule_for

pytestmark = pytest.mark.board

SST2_SENTENCES, MRPC_SENTENCES = 24, 8      # dev sentences per task (the first of each dev set)
TIMING_TOLERANCE = 0.10                     # this test's bound on |slope - 1|, see the timing test


@dataclass
class OnBoard:
    board: object           # edgebert.runtime.boards.Board
    backend: object         # PynqBackend on the overlay
    sim: object             # CSimBackend of the same board's build
    tasks: dict             # the shipped artifact's tasks
    items: list             # runner Items with their task name: [(task, Item), ...]


def _board_name() -> str:
    from edgebert.runtime.boards import BOARDS
    name = os.environ.get("EDGEBERT_BOARD") or os.environ.get("BOARD", "")
    name = name.strip().lower()
    known = [b for b in BOARDS if b != "sim"]
    if name not in known:
        raise LookupError(f"no board named: set EDGEBERT_BOARD to one of {', '.join(known)} "
                          f"(PYNQ's BOARD variable is {os.environ.get('BOARD')!r})")
    return name


def _items(board, tasks: dict) -> list:
    from edgebert.runtime.inputs import task_items, token_items
    max_len = min(128, get_build(board.name).limit("EB_MAX_LEN"))
    tokens = os.environ.get("EDGEBERT_TOKENS")
    if tokens:
        path = Path(tokens)
        if not path.is_file():
            raise LookupError(f"EDGEBERT_TOKENS={tokens}: no such file")
        items = token_items(path.read_bytes(), tasks["sst2"].cfg.vocab_size, max_len)
        return [("sst2", it) for it in items if it.encoded][:SST2_SENTENCES]
    from edgebert.core.tokenization import Tokenizer
    tok = Tokenizer(max_len)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # truncation to the build's length is expected
            return ([("sst2", it) for it in task_items("sst2", tok, SST2_SENTENCES)]
                    + [("mrpc", it) for it in task_items("mrpc", tok, MRPC_SENTENCES)])
    except ImportError as e:
        raise LookupError(f"cannot tokenize here ({e}): set EDGEBERT_TOKENS to the output of "
                          f"`edgebert tokenize --task sst2 --board {board.name}` from a workstation") from e


def _connect(artifact) -> OnBoard:
    """The board's backend on the overlay and the C-simulation of the same build, or LookupError
    naming what is missing."""
    overlay = os.environ.get("EDGEBERT_OVERLAY")
    if not overlay:
        raise LookupError("EDGEBERT_OVERLAY is not set: point it at the overlay's .bit (its .hwh "
                          "beside it), e.g. bitstreams/zcu104/edgebert_zcu104.bit, and run on the board")
    if not Path(overlay).is_file():
        raise LookupError(f"EDGEBERT_OVERLAY={overlay}: no such file")
    from edgebert.runtime.boards import get_board
    board = get_board(_board_name())
    items = _items(board, artifact)
    try:
        import pynq
    except ImportError as e:
        raise LookupError(f"pynq is not importable ({e}): these tests run on a board's PYNQ image") from e
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")              # pynq warns when it finds no device
        devices = pynq.Device.devices
    if not devices:
        raise LookupError("PYNQ finds no device (pynq.Device.devices is empty): these tests run on "
                          "the board, with the PYNQ environment (XRT on ZU+ images) loaded")
    from edgebert.core.errors import DeviceError
    from edgebert.runtime.pynq_backend import PynqBackend
    from edgebert.sim.backend import CSimBackend
    try:
        sim = CSimBackend(board)
    except DeviceError as e:
        raise LookupError(f"the C-simulation reference cannot be built on this machine: {e}") from e
    try:
        backend = PynqBackend(board, overlay)
    except DeviceError as e:
        sim.close()
        raise LookupError(f"the overlay does not load: {e}") from e
    return OnBoard(board, backend, sim, artifact, items)


@pytest.fixture(scope="module")
def on_board(artifact):
    """An OnBoard, or the message that says why there is none (the tests fail with it)."""
    try:
        ob = _connect(artifact)
    except LookupError as e:
        yield str(e)
        return
    yield ob
    ob.backend.close()
    ob.sim.close()


def _require(on_board) -> OnBoard:
    if isinstance(on_board, str):
        pytest.fail(on_board, pytrace=False)
    return on_board


def _runs(backend, task, tokens):
    """The phases of one sentence under the testbench's three stopping rules: all layers
    (no early exit), early exit up to the last layer, and early exit up to the predicted layer."""
    thr, layers = task.threshold_q16, task.cfg.layers
    out = []
    for rule, gate in (("all layers", -1), ("early exit", thr), ("predicted layer", thr)):
        p1 = backend.phase1(tokens, gate)
        p2 = None
        if not p1.exit_now:
            stop = max(p1.predicted_layer, 2) if rule == "predicted layer" else layers
            p2 = backend.phase2(gate, stop)
        out.append((rule, p1, p2))
    return out


def _as_tuple(p):
    if p is None:
        return None
    return (p.exit_layer, [int(v) for v in p.logits], dict(p.entropies), p.counters, p.predicted_layer,
            p.h1, p.exit_now)


def test_results_equal_the_c_simulation_bit_for_bit(on_board):
    ob = _require(on_board)
    ob.backend.set_clock(ob.board.top_clock)
    mismatches, runs = [], 0
    for name, it in ob.items:
        task = ob.tasks[name]
        ob.backend.prepare(task)
        ob.sim.prepare(task)
        tokens = images.token_words(it.encoded.ids, it.encoded.token_types)
        for (rule, a1, a2), (_, b1, b2) in zip(_runs(ob.backend, task, tokens), _runs(ob.sim, task, tokens)):
            runs += 1
            for phase, a, b in (("phase 1", a1, b1), ("phase 2", a2, b2)):
                if _as_tuple(a) != _as_tuple(b):
                    mismatches.append(f"{it.id} ({rule}), {phase}: board {_as_tuple(a)} != C-sim {_as_tuple(b)}")
    assert runs == 3 * len(ob.items)
    assert not mismatches, f"{len(mismatches)} of {runs} runs differ; first: " + "\n".join(mismatches[:3])


def test_cycle_counters_equal_the_cycle_model(on_board):
    ob = _require(on_board)
    keys = (*cost.PHASE_CYCLES, "cycles", "macs", "offchip_words")
    mismatches = []
    for name, it in ob.items:
        task = ob.tasks[name]
        ob.backend.prepare(task)
        sched = schedule_for(task, ob.board.name, ob.board.array_n)
        tokens = images.token_words(it.encoded.ids, it.encoded.token_types)
        s = len(it.encoded.ids)
        for rule, p1, p2 in _runs(ob.backend, task, tokens):
            want = [("phase 1", p1, sched.phase1(images.embedding_record_words(task.word_table, it.encoded.ids)))]
            if p2 is not None:
                want.append(("phase 2", p2, sched.phase2(s, p2.exit_layer - 1)))
            for phase, got, model in want:
                diff = {k: (got.counters[k], model[k]) for k in keys if got.counters[k] != model[k]}
                if diff:
                    mismatches.append(f"{it.id} ({rule}), {phase}: (board, model) {diff}")
    assert not mismatches, f"{len(mismatches)} phases differ from the cycle model; first: " + "\n".join(mismatches[:3])


def test_phase_time_follows_the_counted_cycles(on_board):
    """Wall time of phase 2 (early exit off, stop layer 2..L) against cycles / clock, at the top
    clock and at about half of it. The host's register writes and polling add a roughly fixed
    time per call, which the fitted intercept absorbs; the slope is the board's real time per
    modeled time and should be 1. The bound (TIMING_TOLERANCE) is this test's choice."""
    ob = _require(on_board)
    name, it = ob.items[0]
    task = ob.tasks[name]
    ob.backend.prepare(task)
    tokens = images.token_words(it.encoded.ids, it.encoded.token_types)
    top = ob.board.top_clock
    half = min(ob.board.clocks, key=lambda f: abs(f - top / 2))
    slopes = {}
    for mhz in (top, half):
        f = ob.backend.set_clock(mhz)
        modeled, wall = [], []
        for stop in range(2, task.cfg.layers + 1):
            best = None
            for _ in range(3):                           # the fastest of three: host jitter only adds
                ob.backend.phase1(tokens, -1)
                t0 = time.perf_counter()
                p2 = ob.backend.phase2(-1, stop)
                dt = (time.perf_counter() - t0) * 1e3
                best = dt if best is None else min(best, dt)
            modeled.append(p2.counters["cycles"] / (f * 1e3))
            wall.append(best)
        slope, intercept = np.polyfit(modeled, wall, 1)
        slopes[f] = (round(float(slope), 3), round(float(intercept), 3))
    ob.backend.set_clock(top)
    bad = {f: si for f, si in slopes.items() if abs(si[0] - 1) > TIMING_TOLERANCE}
    assert not bad, f"wall ms = intercept + slope x modeled ms; (slope, intercept) per clock (MHz): {slopes}"
