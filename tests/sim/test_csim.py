"""The HLS C++ accelerator in C-simulation: per-operator testbenches, the whole-accelerator
testbench (also under AddressSanitizer + UndefinedBehaviorSanitizer), bit-exactness against the
golden model on the SST-2 dev set in both arithmetic type families, and clear errors on bad
input."""
import numpy as np
import pytest

from edgebert.accel import images
from edgebert.accel.golden import GoldenModel
from edgebert.core.config import load_model_config
from edgebert.core.tasks import encode_examples, get_task, read_examples
from edgebert.core.tokenization import Encoded, Tokenizer
from edgebert.sim import csim, vectors
from edgebert.sim.verify import verify
from edgebert.train.synthetic import random_task


@pytest.fixture(scope="module")
def sst2(artifact):
    return artifact["sst2"]


@pytest.fixture(scope="module")
def dev():
    examples = read_examples(get_task("sst2"), "dev")
    return encode_examples(examples, Tokenizer(128)), np.array([e.label for e in examples])


@pytest.fixture(scope="module")
def operator_vectors(tmp_path_factory):
    return vectors.write_operator_vectors(tmp_path_factory.mktemp("operators"), n=16)


@pytest.mark.parametrize("variant", csim.VARIANTS)
@pytest.mark.parametrize("name", csim.TESTBENCHES)
def test_operator_testbench(name, variant, operator_vectors):
    run = csim.run_testbench(csim.build_testbench(name, variant), operator_vectors, name)
    assert run.returncode == 0 and run.failed == 0, run.output[-2000:]
    assert run.passed >= 100


def test_a_testbench_fails_on_a_wrong_expectation(operator_vectors, tmp_path):
    lines = (operator_vectors / "mac.txt").read_text().splitlines()
    fields = lines[3].split()
    fields[-2] = str(int(fields[-2]) + 1)              # one output word of case 3
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "mac.txt").write_text("\n".join(lines[:3] + [" ".join(fields)] + lines[4:]) + "\n")
    run = csim.run_testbench(csim.build_testbench("mac", "native"), bad, "mac")
    assert run.returncode != 0 and run.failed >= 1


def test_accelerator_testbench_is_clean_under_sanitizers(sst2, dev, tmp_path):
    """The bridge and the whole accelerator built with ASan + UBSan, both exit policies."""
    d = vectors.write_accelerator_vectors(tmp_path, sst2, dev[0][:16], policies=(0, 1))
    run = csim.run_testbench(csim.build_testbench("accel", "native", sanitize=True), d, "accel")
    assert run.returncode == 0 and run.failed == 0, run.output[-3000:]
    assert "sentences: 32 passed, 0 failed" in run.output
    assert "ERROR: AddressSanitizer" not in run.output and "runtime error" not in run.output


def test_csim_matches_golden_on_the_whole_dev_set(sst2, dev):
    out = verify(sst2, *dev, variant="native", progress=False)
    assert out["n"] == 872
    assert out["mismatches"] == 0, out["first_mismatches"]
    assert out["cycle_mismatches"] == 0
    assert out["accuracy"] > 0.8


@pytest.mark.parametrize("policy", ["ee", "predictor"])
def test_ap_types_build_matches_golden(sst2, dev, policy):
    """The ap_int build (what Vitis HLS synthesizes) on a sample."""
    enc, y = dev
    out = verify(sst2, enc[::60], y[::60], variant="ap", policy=policy, progress=False)
    assert out["n"] == 15 and out["mismatches"] == 0 and out["cycle_mismatches"] == 0


def test_other_dimensions_and_dropped_heads_match_golden(tmp_path):
    """A random `edge`-sized task (H 256, FFN 1024) with one head at span 0, lengths 1..128."""
    task = random_task(load_model_config("edge"), seed=3, dead_heads=(1,))
    rng = np.random.default_rng(0)
    enc = [Encoded(rng.integers(0, 2000, size=n).tolist(), (np.arange(n) >= n // 2).astype(int).tolist())
           for n in (1, 2, 16, 17, 40, 128)]
    d = vectors.write_accelerator_vectors(tmp_path, task, enc, policies=(0, 1))
    run = csim.run_testbench(csim.build_testbench("accel", "native"), d, "accel")
    assert run.returncode == 0 and run.failed == 0, run.output[-3000:]
    assert "sentences: 12 passed, 0 failed" in run.output


def test_csim_counts_the_same_macs_as_the_golden_model(sst2, dev):
    acc = csim.load_accelerator(sst2)
    golden = GoldenModel(sst2)
    for e in dev[0][:5]:
        run = csim.run_sentence(acc, images.token_words(e.ids, e.token_types), -1, sst2.cfg.layers)
        ref = golden.run(e.ids, e.token_types, threshold=-1)
        assert run.exit_layer == 12
        assert run.phase1["macs"] == ref.ops["phase1"]["macs"]
        assert run.phase2["macs"] == ref.ops["phase2"]["macs"]


# ---- bad input -------------------------------------------------------------------------------
@pytest.fixture()
def accel(sst2):
    acc = csim.load_accelerator(sst2)
    yield acc
    acc.close()


def test_bad_commands_are_refused_with_a_reason(accel, sst2):
    tok = images.token_words([101, 2023, 102], [0, 0, 0])
    with pytest.raises(csim.CSimError, match="without a phase 1"):
        accel.phase2(0, 12)
    with pytest.raises(csim.CSimError, match="length is 0"):
        accel.phase1(tok[:0], 0)
    with pytest.raises(csim.CSimError, match="above the task's max_len"):
        accel.phase1(np.resize(tok, 129), 0)
    with pytest.raises(csim.CSimError, match="outside the vocabulary"):
        accel.phase1(images.token_words([101, 40000, 102], [0, 0, 0]), 0)
    with pytest.raises(csim.CSimError, match="outside the vocabulary"):
        accel.phase1(images.token_words([101, 7, 102], [0, 2, 0]), 0)
    accel.phase1(tok, -1)
    with pytest.raises(csim.CSimError, match="stop layer"):
        accel.phase2(-1, 13)
    accel.phase2(-1, 3)
    with pytest.raises(csim.CSimError, match="without a phase 1"):
        accel.phase2(-1, 12)                          # phase 2 runs once per phase 1


def test_corrupt_or_mismatched_images_are_refused(accel, sst2):
    image = images.task_image(sst2)
    for bad in (image[:-1], np.concatenate([image, [0]]), np.where(np.arange(image.size) == 0, 0, image)):
        with pytest.raises(csim.CSimError, match="corrupt"):
            accel.load_task(bad.astype(np.uint32))
    with pytest.raises(csim.CSimError, match="no task is loaded"):
        accel.phase1(images.token_words([101, 102], [0, 0]), 0)
    accel.load_task(image)
    emb = images.embedding_image(sst2.word_table)
    emb[3] = 64                                       # embedding width of another model
    accel.set_embedding(emb)
    with pytest.raises(csim.CSimError, match="embedding"):
        accel.phase1(images.token_words([101, 102], [0, 0]), 0)


def test_a_task_larger_than_the_build_is_refused():
    small = csim.CSimAccelerator("native", library=csim.build(
        "libedgebert-small", [csim.HLS_DIR / "src" / "bridge.cpp"],
        csim.compile_flags("native", defines={"EB_MAX_H": 128, "EB_MAX_FFN": 512, "EB_MAX_HEADS": 4}),
        shared=True))
    task = random_task(load_model_config("edge"), seed=0)
    with pytest.raises(csim.CSimError, match="does not fit"):
        small.load_task(images.task_image(task))
    assert small.limits["max_h"] == 128


def test_phase_one_needs_the_shared_tables(sst2):
    acc = csim.CSimAccelerator("native")
    acc.load_task(images.task_image(sst2))
    acc.set_embedding(images.embedding_image(sst2.word_table))
    with pytest.raises(csim.CSimError, match="tables are not loaded"):
        acc.phase1(images.token_words([101, 102], [0, 0]), 0)


def _last_json(result):
    import json
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_verify_and_bench_commands():
    from click.testing import CliRunner

    from edgebert.cli import main
    out = _last_json(CliRunner().invoke(main, ["csim", "verify", "--task", "mrpc", "--limit", "6", "--json"]))
    assert {"n", "mismatches", "accuracy"} <= set(out) and out["n"] == 6 and out["mismatches"] == 0
    bench = _last_json(CliRunner().invoke(main, ["bench", "csim", "--task", "sst2", "--limit", "20", "--json"]))
    assert bench["sentences"] == 20 and bench["wall_s"] > 0
    assert bench["sentences_per_s"] == pytest.approx(20 / bench["wall_s"], rel=0.01)
    bad = CliRunner().invoke(main, ["csim", "verify", "--task", "qqp"])
    assert bad.exit_code != 0 and "qqp" in bad.output


def test_pynq_z2_build_with_off_ramps_in_ddr_matches_golden(sst2, dev):
    """The PYNQ-Z2 build: n = 8, sentences up to 64 tokens, off-ramps fetched from DDR per layer."""
    from edgebert.accel.builds import schedule_for
    from edgebert.sim.backend import CSimBackend
    enc, _ = dev
    be = CSimBackend("pynq-z2")
    assert be.limits["ramps_in_ddr"] == 1 and be.limits["max_len"] == 64 and be.limits["n"] == 8
    moved = be.prepare(sst2)
    golden = GoldenModel(sst2)
    sched = schedule_for(sst2, "pynq-z2")
    for e in enc[::40]:
        tok = images.token_words(e.ids, e.token_types)
        p1 = be.phase1(tok, -1)
        p2 = be.phase2(-1, 12)
        ref = golden.run(e.ids, e.token_types, threshold=-1)
        assert list(p2.logits) == list(ref.logits) and [p1.h1] + [p2.entropies[l] for l in range(2, 13)] == ref.entropies
        assert p1.counters["cycles"] == sched.phase1(images.embedding_record_words(sst2.word_table, e.ids))["cycles"]
        want2 = sched.phase2(len(e.ids), 11)
        assert (p2.counters["cycles"], p2.counters["offchip_words"]) == (want2["cycles"], want2["offchip_words"])
    too_long = images.token_words(list(range(1000, 1065)), [0] * 65)
    with pytest.raises(csim.CSimError, match="max_len"):
        be.phase1(too_long, 0)
    be.close()
    assert moved["task_bytes"] == images.task_image(sst2).nbytes


def test_the_weight_store_refuses_a_task_with_more_non_zeros_than_it_holds(sst2):
    from edgebert.accel import images
    from edgebert.accel.resources import task_weight_bytes
    sizes = task_weight_bytes(sst2, 16)
    assert 0.40 < sizes["codes"] / sizes["bytes_dense"] < 0.50      # 50 % encoder, 60 % off-ramp poolers
    tiny_build = {"EB_MAX_H": 128, "EB_MAX_FFN": 512, "EB_MAX_HEADS": 4}       # the task's own dimensions
    small = csim.CSimAccelerator("native", defines={**tiny_build, "EB_WEIGHT_DENSITY": 40})
    small.load_shared(images.shared_image(sst2.tables))
    with pytest.raises(csim.CSimError, match="does not fit"):
        small.load_task(images.task_image(sst2))
    fits = csim.CSimAccelerator("native", defines={**tiny_build, "EB_WEIGHT_DENSITY": 50})
    fits.load_shared(images.shared_image(sst2.tables))
    fits.load_task(images.task_image(sst2))


@pytest.mark.parametrize("board", ["zcu104", "kv260", "pynq-z2"])
def test_shipped_task_images_take_at_most_0_65_of_dense_on_chip(artifact, board):
    """What each board's build holds of a shipped task (the off-ramps too unless it reads them
    from DDR; the position rows up to its longest sentence) against the same weights dense."""
    from edgebert.accel.builds import get_build
    from edgebert.accel.resources import task_weight_bytes, weight_store
    b = get_build(board)
    for task in artifact.values():
        sizes = task_weight_bytes(task, b.n, ramps_on_chip=not b.limit("EB_RAMPS_IN_DDR"),
                                  max_len=b.limit("EB_MAX_LEN"))
        assert sizes["ratio"] <= 0.65, (task.name, sizes)
        assert sizes["codes"] <= weight_store(b.n, b.limits)["codes"]
