"""The CPU baseline backend (the golden model on the host's cores): the same run logs as the
C-simulation, record by record (predictions, exit layers, entropies, logits, cycles, every
counter, clocks), on the default build and on a board build, and the same refusals."""
import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgebert.accel import images
from edgebert.accel.artifact import AfTensor
from edgebert.cli import main
from edgebert.core.errors import DeviceError
from edgebert.core.tokenization import Tokenizer
from edgebert.runtime.golden_backend import GoldenBackend
from edgebert.runtime.inputs import max_tokens, task_items
from edgebert.runtime.runner import run
from edgebert.sim.backend import CSimBackend

N_SENTENCES = 30
HOST_TIMES = ("host", "host_clock_switch_ms")       # the host's own timings differ by nature


@pytest.fixture(scope="module")
def sst2(artifact):
    return artifact["sst2"]


@pytest.fixture(scope="module")
def backends():
    """`backends(board)`: a C-sim and a golden backend of `board`, shared by the module's runs (each
    loads the task once); the two see the same commands, so their clocks stay in step."""
    made: dict = {}

    def make(board: str):
        if board not in made:
            made[board] = (CSimBackend(board), GoldenBackend(board))
        return made[board]
    yield make
    for pair in made.values():
        for b in pair:
            b.close()


def _log(backend, task, items, policy, path) -> tuple[dict, list[dict]]:
    header = {"task": task.name, "policy": policy, "target_ms": 6.0, "backend": backend.name,
              "board": backend.board.name}
    summary = run(backend, task, items, policy, 6.0, path, header, progress=False)
    lines = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    return summary, lines


def _comparable(rec: dict) -> dict:
    """A record without the host's wall times."""
    out = {k: v for k, v in rec.items() if k not in HOST_TIMES}
    for phase in ("phase1", "phase2"):
        if phase in out:
            out[phase] = {k: v for k, v in out[phase].items() if k != "wall_ms"}
    return out


@pytest.mark.parametrize("board,policy,first,count", [("sim", "base", 0, 8), ("sim", "ee", 0, N_SENTENCES),
                                                      ("sim", "lai", 0, N_SENTENCES), ("pynq-z2", "ee", 18, 12)])
def test_golden_run_log_equals_the_csim_log(board, policy, first, count, sst2, backends, tmp_path):
    """pynq-z2: another array (n = 8), sentences cut at 64 tokens, off-ramps fetched from DDR."""
    items = task_items("sst2", Tokenizer(max_tokens(sst2, board)), first + count)[first:]
    csim, golden = backends(board)
    csim_sum, want = _log(csim, sst2, items, policy, tmp_path / "csim.jsonl")
    gold_sum, got = _log(golden, sst2, items, policy, tmp_path / "golden.jsonl")
    assert len(want) == len(got) == count
    for w, g in zip(want, got):
        assert _comparable(g) == _comparable(w), w["id"]
        assert set(g["phase1"]["counters"]) == set(w["phase1"]["counters"])   # every counter, by its name
    timing = ("end_to_end", "queue", "loop_s")
    assert {k: v for k, v in gold_sum.items() if not k.startswith(timing)} == \
        {k: v for k, v in csim_sum.items() if not k.startswith(timing)} | {"backend": "golden"}
    # The comparison saw real work: phase 2 ran, exits spread, MACs were gated.
    exits = {r["exit_layer"] for r in got}
    with_p2 = [r for r in got if "phase2" in r]
    assert with_p2 and all(r["phase2"]["counters"]["cycles"] > 0 for r in with_p2)
    assert all(0 < r["phase1"]["counters"]["gated_macs"] < r["phase1"]["counters"]["macs"] for r in got)
    if policy == "base":
        assert exits == {12}
    else:
        assert len(exits) >= 3
    if board == "pynq-z2":
        assert all(r["phase2"]["counters"]["offchip_words"] > 0 for r in with_p2)    # off-ramps from DDR
    if policy == "lai":
        assert any(r["exit_layer"] < r["true_exit_layer"] for r in got)            # stopped at the prediction


def _outcome(call) -> str:
    try:
        r = call()
    except DeviceError as e:
        return f"refused: {e}"
    if isinstance(r, dict):                                  # prepare: the bytes moved
        return f"moved {r}"
    return f"exit {r.exit_layer} logits {list(r.logits)} entropies {r.entropies} counters {r.counters}"


@pytest.mark.parametrize("board", ["sim", "pynq-z2"])
def test_golden_refuses_what_the_csim_refuses(board, sst2):
    tok = images.token_words([101, 2023, 2003, 102], [0, 0, 0, 0])
    max_len = max_tokens(sst2, board)
    too_long = images.token_words(list(range(1000, 1001 + max_len)), [0] * (max_len + 1))
    longest = too_long[:max_len]
    # Every encoder weight non-zero, the zeros at the largest code: more codes than pynq-z2's
    # store holds, and (where it fits) saturations to count.
    dense = {name: AfTensor(np.where(t.codes == 0, 0x7F, t.codes).astype(np.uint8), t.bias)
             for name, t in sst2.matrices.items() if name in images.LAYER_MATRICES}
    dense_task = dataclasses.replace(sst2, name="sst2-dense", matrices={**sst2.matrices, **dense})

    def script(b):
        return [
            _outcome(lambda: b.phase1(tok, 0)),                            # nothing loaded
            _outcome(lambda: b.prepare(sst2)),
            _outcome(lambda: b.phase2(-1, 12)),                             # no phase 1 yet
            _outcome(lambda: b.phase1(tok[:0], 0)),
            _outcome(lambda: b.phase1(too_long, 0)),
            _outcome(lambda: b.phase1(longest, -1)),                         # the build's longest sentence
            _outcome(lambda: b.phase2(-1, 13)),
            _outcome(lambda: b.phase2(-1, 1)),
            _outcome(lambda: b.phase2(-1, 5)),                              # the same sentence, layers 2..5
            _outcome(lambda: b.phase2(-1, 12)),                             # phase 2 runs once per phase 1
            _outcome(lambda: b.phase1(images.token_words([101, 40000, 102], [0, 0, 0]), 0)),
            _outcome(lambda: b.phase1(images.token_words([101, 7, 102], [0, 2, 0]), 0)),
            _outcome(lambda: b.phase2(-1, 12)),                             # a refused phase 1 leaves none
            _outcome(lambda: b.phase1(tok, 2 ** 30)),                       # exits at layer 1
            _outcome(lambda: b.phase2(-1, 3)),                              # and may still go on
            _outcome(lambda: b.prepare(dense_task)),                        # more non-zeros than the store holds
            _outcome(lambda: b.phase1(tok, -1)),
            _outcome(lambda: b.phase2(-1, 3)),
        ]
    with CSimBackend(board) as c, GoldenBackend(board) as g:
        want, got = script(c), script(g)
    assert got == want
    refusals = [w for w in want if w.startswith("refused")]
    assert len(refusals) == (10 if board == "sim" else 13)
    assert "above the task's max_len" in want[4] and ("does not fit" in want[15]) == (board == "pynq-z2")
    if board == "sim":
        assert "'saturations': 0," not in want[16] and "'saturations': 0," not in want[17]


def test_cli_runs_the_golden_backend(tmp_path):
    out = tmp_path / "g.jsonl"
    r = CliRunner().invoke(main, ["run", "--backend", "golden", "--board", "sim", "--task", "sst2", "--policy", "ee",
                                  "--limit", "3", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert summary["backend"] == "golden" and summary["n"] == 3
    assert json.loads(out.read_text().splitlines()[0])["run"]["backend"] == "golden"
