"""The gated-MAC counter (MACs with a zero weight or activation operand, clock-gated): the C++ MAC
array and the golden model count the same, on a hand-built kernel case whose count is known by
construction, on a task whose every MAC is gated, and on SST-2 dev sentences."""
import copy

import numpy as np
import pytest

from edgebert.accel import images
from edgebert.accel.golden import GoldenModel, gated_macs
from edgebert.core.config import load_model_config
from edgebert.core.tasks import encode_examples, get_task, read_examples
from edgebert.core.tokenization import Tokenizer
from edgebert.sim import csim, vectors
from edgebert.train.synthetic import random_task

N = 16
GATED_FIELD = 6              # mac.txt: n, M, cols, K, shift, cycles, gated, ...


def _hand_cases() -> list[tuple[str, int]]:
    """(mac.txt line, the gated count worked out by hand)."""
    cases = []
    # 3 x 4 activations, activation row 1 all zero; 5 x 4 weight codes with 6 zero codes (two of
    # them 0x80, AdaptivFloat's negative zero). Row 1 gates all 5 * 4 of its MACs, rows 0 and 2
    # gate one MAC per zero weight: 20 + 2 * 6.
    a = np.array([[1, -2, 3, 4], [0, 0, 0, 0], [5, 6, -7, 8]])
    codes = np.full((5, 4), 0x41)
    for j, k in ((0, 0), (1, 3), (2, 1), (2, 2), (4, 0), (4, 3)):
        codes[j, k] = 0x80 if j == 2 else 0
    cases.append((vectors.mac_case(N, a, codes, np.zeros(5, dtype=int), 3), 32))
    # Partial tiles of a 16-lane array (17 x 18), no zero operand: the idle lanes are not counted.
    cases.append((vectors.mac_case(N, np.full((17, 3), 7), np.full((18, 3), 0x33), np.zeros(18, dtype=int), 2), 0))
    # Every weight zero: every MAC gated.
    cases.append((vectors.mac_case(N, np.full((20, 5), 3), np.zeros((33, 5), dtype=int), np.zeros(33, dtype=int), 0),
                  20 * 33 * 5))
    # One zero activation (row 16, k 1: the second row tile) gates its 33 columns; a zero weight
    # at (column 0, k 1) gates its 18 rows, one of them row 16 again (counted once); a zero weight
    # at (column 17, k 0: the second column tile) gates its 18 rows: 33 + 18 - 1 + 18.
    a = np.full((18, 2), -9)
    a[16, 1] = 0
    codes = np.full((33, 2), 0xC5)
    codes[0, 1] = codes[17, 0] = 0
    cases.append((vectors.mac_case(N, a, codes, np.zeros(33, dtype=int), 5), 33 + 18 - 1 + 18))
    return cases


def test_golden_count_equals_the_hand_count():
    for line, want in _hand_cases():
        assert int(line.split()[GATED_FIELD]) == want


@pytest.mark.parametrize("variant", csim.VARIANTS)
def test_mac_array_counts_the_hand_built_cases(variant, tmp_path):
    lines = [line for line, _ in _hand_cases()]
    (tmp_path / "mac.txt").write_text("\n".join(lines) + "\n")
    exe = csim.build_testbench("mac", variant, N)
    run = csim.run_testbench(exe, tmp_path, "mac")
    assert run.returncode == 0 and run.failed == 0 and run.passed == 4 * len(lines), run.output[-2000:]
    fields = lines[0].split()
    fields[GATED_FIELD] = str(int(fields[GATED_FIELD]) + 1)         # a wrong expectation fails
    (tmp_path / "mac.txt").write_text(" ".join(fields) + "\n")
    run = csim.run_testbench(exe, tmp_path, "mac")
    assert run.returncode != 0 and run.failed == 1 and "gated" in run.output


def test_a_task_of_zero_weights_gates_every_mac():
    """Zero weights and biases: every projection has a zero weight operand and Q, K, V are zero,
    so every MAC of both phases is gated; the cycles do not change."""
    base = random_task(load_model_config("tiny"), seed=4)
    task = copy.deepcopy(base)
    for name, m in task.matrices.items():
        if name not in ("position", "token_type"):
            m.codes[:] = 0
    for name in task.vectors:
        if name.endswith(".bias"):
            task.vectors[name] = np.zeros_like(task.vectors[name])
    ids = [5, 17, 300, 2]
    runs = {}
    for t in (base, task):
        acc = csim.load_accelerator(t)
        tok = images.token_words(ids, [0] * len(ids))
        runs[id(t)] = csim.run_sentence(acc, tok, -1, t.cfg.layers)
        acc.close()
    run, ref = runs[id(task)], GoldenModel(task).run(ids, [0] * len(ids), threshold=-1)
    for phase in ("phase1", "phase2"):
        counters = getattr(run, phase)
        assert counters["gated_macs"] == counters["macs"] == ref.ops[phase]["gated_macs"] > 0
        assert counters["cycles"] == getattr(runs[id(base)], phase)["cycles"]
        assert getattr(runs[id(base)], phase)["gated_macs"] < counters["macs"]


@pytest.fixture(scope="module")
def dev40():
    return encode_examples(read_examples(get_task("sst2"), "dev")[:40], Tokenizer(128))


def test_csim_and_golden_count_the_same_gated_macs_on_sst2(artifact, dev40):
    """Every layer of 40 dev sentences (no exit), per phase: equal, and a proper subset of the MACs
    (the encoder weights are about half zero)."""
    task = artifact["sst2"]
    acc = csim.load_accelerator(task)
    golden = GoldenModel(task)
    gated = macs = 0
    for e in dev40:
        run = csim.run_sentence(acc, images.token_words(e.ids, e.token_types), -1, task.cfg.layers)
        ref = golden.run(e.ids, e.token_types, threshold=-1)
        for phase in ("phase1", "phase2"):
            counters = getattr(run, phase)
            assert counters["gated_macs"] == ref.ops[phase]["gated_macs"], (e.ids, phase)
            assert 0 < counters["gated_macs"] < counters["macs"]
            gated, macs = gated + counters["gated_macs"], macs + counters["macs"]
    acc.close()
    assert 0.3 < gated / macs < 0.8


def test_gated_macs_counts_each_mac_once_against_brute_force():
    rng = np.random.default_rng(0)
    for shape_a, shape_b in (((5, 7), (7, 3)), ((2, 4, 6), (2, 6, 5))):
        a = rng.integers(-2, 3, size=shape_a)
        b = rng.integers(-2, 3, size=shape_b)
        zero = (a[..., :, :, None] == 0) | (b[..., None, :, :] == 0)       # (..., M, K, C)
        assert gated_macs(a, b) == int(zero.sum())
        assert gated_macs(np.zeros_like(a), b) == a.size * b.shape[-1]
        assert gated_macs(np.ones_like(a), np.ones_like(b)) == 0
