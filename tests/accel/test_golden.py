"""The golden model and the export artifact: round trip, rejection of bad artifacts, agreement
with PyTorch per layer, the two-phase protocol, and operation counts."""
import json
import shutil

import numpy as np
import pytest
import torch

from edgebert.accel.artifact import ArtifactError, load_artifact, save_artifact
from edgebert.accel.golden import GoldenModel
from edgebert.accel.numerics.fixed import accumulator_bits
from edgebert.accel.predictor import binned_cell
from edgebert.core.tasks import encode_examples, get_task, read_examples
from edgebert.core.tokenization import Tokenizer
from edgebert.train.export import export_task
from edgebert.train.package import binned_predictor, predictor_table
from edgebert.train.quant import FakeQuantHooks, FloatHooks

# Stated tolerances. Golden vs the fake-quantized torch model differ only by the special-function
# approximations and float accumulation order; vs the float model they differ by the quantization
# itself. Hidden states in lsb of the model's calibrated hidden format (so a model whose hidden
# states need a wider range is held to the same number of steps), logits in real units.
TOL_FQ_HIDDEN_MAX_LSB, TOL_FQ_HIDDEN_MEAN_LSB, TOL_FQ_LOGIT = 40, 4, 0.01
TOL_FLOAT_HIDDEN_MEAN_LSB, TOL_FLOAT_LOGIT = 60, 0.25


@pytest.fixture(scope="module")
def shipped(task_packages, artifact):
    model, manifest = task_packages["sst2"]
    return model, manifest, artifact["sst2"]


@pytest.fixture(scope="module")
def dev_sentences():
    return encode_examples(read_examples(get_task("sst2"), "dev")[:30], Tokenizer(128))


def torch_run(model, e):
    ids = torch.tensor([e.ids])
    with torch.no_grad():
        logits, hidden = model(ids, torch.tensor([e.token_types]), torch.ones_like(ids, dtype=torch.bool),
                               return_hidden=True)
    return logits[0].numpy(), [h[0].numpy() for h in hidden]


def test_export_round_trip_is_lossless(shipped, tmp_path):
    model, manifest, hw = shipped
    fresh = export_task(model, "sst2", hw.formats, manifest["threshold"], predictor_table(manifest),
                        binned_predictor(manifest))
    save_artifact([fresh], tmp_path)
    back = load_artifact(tmp_path)["sst2"]
    for name, t in fresh.matrices.items():
        np.testing.assert_array_equal(back.matrices[name].codes, t.codes)
        assert back.matrices[name].bias == t.bias
    for name, v in fresh.vectors.items():
        np.testing.assert_array_equal(back.vectors[name], v)
    np.testing.assert_array_equal(back.span_mask, fresh.span_mask)
    np.testing.assert_array_equal(back.predictor, fresh.predictor)
    assert back.threshold_q16 == fresh.threshold_q16
    # and it is the artifact that ships
    np.testing.assert_array_equal(back.matrices["layer.ffn1"].codes, hw.matrices["layer.ffn1"].codes)


@pytest.fixture()
def artifact_copy(artifact_dir, tmp_path):
    dst = tmp_path / "accel"
    shutil.copytree(artifact_dir, dst)
    return dst


def test_corrupt_blob_is_rejected(artifact_copy):
    data = bytearray((artifact_copy / "sst2.bin").read_bytes())
    data[1000] ^= 0x40
    (artifact_copy / "sst2.bin").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        load_artifact(artifact_copy, ["sst2"])


def test_truncated_blob_file_is_rejected(artifact_copy):
    path = artifact_copy / "shared.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ArtifactError, match="truncated"):
        load_artifact(artifact_copy)


def test_version_mismatch_and_missing_parts_are_rejected(artifact_copy):
    manifest = json.loads((artifact_copy / "manifest.json").read_text())
    with pytest.raises(ArtifactError, match="no task 'rte'"):
        load_artifact(artifact_copy, ["rte"])
    (artifact_copy / "manifest.json").write_text(json.dumps({**manifest, "format": "edgebert-accel-v0"}))
    with pytest.raises(ArtifactError, match="edgebert-accel-v0"):
        load_artifact(artifact_copy)
    (artifact_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_artifact(artifact_copy)
    (artifact_copy / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="missing manifest.json"):
        load_artifact(artifact_copy)


def test_both_tasks_share_one_embedding_blob(artifact_dir):
    manifest = json.loads((artifact_dir / "manifest.json").read_text())
    assert set(manifest["tasks"]) == {"sst2", "mrpc"}
    emb = manifest["embedding"]
    assert manifest["blobs"][emb["codes"]]["file"] == "shared.bin"
    assert all(e["file"] != "shared.bin" for k, e in manifest["blobs"].items() if k.startswith("sst2."))


def test_golden_matches_torch_per_layer(shipped, dev_sentences):
    model, _, hw = shipped
    golden = GoldenModel(hw)
    worst = {"fq_max": 0.0, "fq_mean": 0.0, "fq_logit": 0.0, "float_mean": 0.0, "float_logit": 0.0}
    runs = {}
    try:                                            # the model is the session's: restore it
        for mode, hooks in (("float", None), ("fq", FakeQuantHooks(hw.formats))):
            if hooks:
                model.set_hooks(hooks)
            runs[mode] = [torch_run(model, e) for e in dev_sentences]
    finally:
        model.set_hooks(FloatHooks())
    for i, e in enumerate(dev_sentences):
        g_hidden = []
        g_logits = golden.trace(e.ids, e.token_types, g_hidden)[0] / 2.0 ** hw.formats["logit"]
        for layer, gh in enumerate(g_hidden):
            d_fq = np.abs(runs["fq"][i][1][layer] - gh)
            worst["fq_max"] = max(worst["fq_max"], d_fq.max())
            worst["fq_mean"] = max(worst["fq_mean"], d_fq.mean())
            worst["float_mean"] = max(worst["float_mean"], np.abs(runs["float"][i][1][layer] - gh).mean())
        worst["fq_logit"] = max(worst["fq_logit"], np.abs(runs["fq"][i][0] - g_logits).max())
        worst["float_logit"] = max(worst["float_logit"], np.abs(runs["float"][i][0] - g_logits).max())
    lsb = 2.0 ** -hw.formats["hidden"]
    assert worst["fq_max"] <= TOL_FQ_HIDDEN_MAX_LSB * lsb, worst
    assert worst["fq_mean"] <= TOL_FQ_HIDDEN_MEAN_LSB * lsb, worst
    assert worst["fq_logit"] <= TOL_FQ_LOGIT, worst
    assert worst["float_mean"] <= TOL_FLOAT_HIDDEN_MEAN_LSB * lsb, worst
    assert worst["float_logit"] <= TOL_FLOAT_LOGIT, worst


def test_two_phase_run_matches_the_all_layer_trace(shipped, dev_sentences):
    _, _, hw = shipped
    golden = GoldenModel(hw)
    t = hw.threshold_q16
    for e in dev_sentences:
        logits, ents = golden.trace(e.ids, e.token_types)
        below = np.flatnonzero(ents < t)
        actual = int(below[0]) + 1 if below.size else hw.cfg.layers
        r = golden.run(e.ids, e.token_types)
        assert r.exit_layer == actual
        np.testing.assert_array_equal(r.logits, logits[actual - 1])
        assert r.entropies == list(ents[:actual])
        predicted = golden.predict(int(ents[0]), t)
        rp = golden.run(e.ids, e.token_types, use_predictor=True)
        assert rp.predicted_layer == predicted
        # The binned predictor reads H1, the length and layer 1's answer from the same trace.
        want = 1 if ents[0] < t else int(hw.binned.bins[binned_cell(int(ents[0]), len(e.ids),
                                                                     int(np.argmax(logits[0])), hw.binned.edges)])
        assert r.predicted_binned == rp.predicted_binned == want
        assert rp.exit_layer == min(actual, predicted)
        np.testing.assert_array_equal(rp.logits, logits[rp.exit_layer - 1])
        full = golden.run(e.ids, e.token_types, early_exit=False)
        assert full.exit_layer == hw.cfg.layers
        np.testing.assert_array_equal(full.logits, logits[-1])


def test_operation_counts_follow_the_dimensions(shipped):
    _, _, hw = shipped
    c = hw.cfg
    n = 9
    r = GoldenModel(hw).run(np.full(n, 2000), np.zeros(n, dtype=np.int64), early_exit=False)
    live = len(hw.live_heads)
    layer = n * c.hidden * (4 * c.hidden + 2 * c.ffn) + 2 * live * n * n * c.head_dim
    ramp = c.hidden * (c.hidden + c.num_labels)
    assert r.ops["phase1"]["macs"] == n * c.embed_dim * c.hidden + layer + ramp
    assert r.ops["phase2"]["macs"] == (c.layers - 1) * (layer + ramp)
    assert r.ops["phase1"]["offchip_bytes"] == GoldenModel(hw).t.word_table.row_bytes(np.full(n, 2000))
    per_layer = sum(hw.matrices[f"layer.{p}"].stored_bytes() for p in ("q", "k", "v", "o", "ffn1", "ffn2"))
    ramp_bytes = sum(hw.matrices[f"ramps.{i}.{p}"].stored_bytes()
                     for i in range(1, c.layers) for p in ("pooler", "classifier"))
    assert r.ops["phase2"]["weight_buffer_bytes"] == (c.layers - 1) * per_layer + ramp_bytes
    assert r.ops["phase1"]["act_writes"] > n * c.hidden
    # Every zero weight gates one MAC per row it meets; zero activations add to that.
    zeros = {name: int(np.count_nonzero(m.words() == 0)) for name, m in hw.matrices.items()}
    weight_gated = (c.layers - 1) * n * sum(zeros[f"layer.{p}"] for p in ("q", "k", "v", "o", "ffn1", "ffn2")) \
        + sum(zeros[f"ramps.{i}.{p}"] for i in range(1, c.layers) for p in ("pooler", "classifier"))
    assert weight_gated <= r.ops["phase2"]["gated_macs"] < r.ops["phase2"]["macs"]
    assert r.ops["phase2"]["gated_macs"] > 0.4 * r.ops["phase2"]["macs"]        # 50 % pruning


def test_accumulators_fit_40_bits_even_at_paper_dimensions(shipped):
    """Every projection of the shipped model, with its real requantization shift, at its own K
    and at ALBERT-base's largest K (3072), fits a 40-bit signed accumulator."""
    golden = GoldenModel(shipped[2])
    golden.trace([101, 2023, 3185, 102], [0, 0, 0, 0])
    assert len(golden.acc_shapes) == 7 + 2 * golden.cfg.layers
    for name, (k, shift) in golden.acc_shapes.items():
        assert accumulator_bits(max(k, 3072), shift) <= 40, (name, k, shift)


def test_golden_rejects_bad_input(shipped):
    golden = GoldenModel(shipped[2])
    with pytest.raises(ValueError, match="empty"):
        golden.run([], [])
    with pytest.raises(ValueError, match="exceeds"):
        golden.run(np.ones(129, dtype=int), np.zeros(129, dtype=int))
    with pytest.raises(ValueError, match="token id"):
        golden.run([101, 40000, 102], [0, 0, 0])
    with pytest.raises(ValueError, match="stop layer"):
        p1, _ = golden.phase1([101, 2000, 102], [0, 0, 0], golden.t.threshold_q16)
        golden.phase2(p1, golden.t.threshold_q16, 13)
