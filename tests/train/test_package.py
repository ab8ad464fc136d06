import json
import shutil

import numpy as np
import pytest

from edgebert.accel.interface import MAX_CLASSES
from edgebert.accel.predictor import check_binned
from edgebert.core.paths import DEFAULT_MODEL_DIR
from edgebert.train.embedding import load_table, sha256_file
from edgebert.train.model import PRUNABLE
from edgebert.train.package import EMBEDDING_FILE, binned_predictor, load_task, read_manifest
from edgebert.train.span import removable_heads

TASKS = ("sst2", "mrpc")


@pytest.fixture(scope="module")
def shipped(task_packages):
    return {t: task_packages[t] for t in TASKS}


def test_tasks_share_one_embedding_table(shipped):
    emb = DEFAULT_MODEL_DIR / EMBEDDING_FILE
    refs = {(m["embedding"]["file"], m["embedding"]["sha256"]) for _, m in shipped.values()}
    assert refs == {(f"../{EMBEDDING_FILE}", sha256_file(emb))}
    a, b = (shipped[t][0].word_embeddings for t in TASKS)
    assert bool((a == b).all())


def test_tasks_have_their_own_encoders(shipped):
    sa, sb = (shipped[t][0].task_state() for t in TASKS)
    assert not np.allclose(sa["layer.q.weight"].numpy(), sb["layer.q.weight"].numpy())


def test_shipped_sparsity(shipped):
    table = load_table(DEFAULT_MODEL_DIR / EMBEDDING_FILE)
    assert float((table == 0).float().mean()) == pytest.approx(0.6, abs=0.005)
    for task, (model, manifest) in shipped.items():
        state = model.task_state()
        for name in PRUNABLE:
            zeros = float((state[name] == 0).float().mean())
            assert zeros == pytest.approx(0.5, abs=0.01), (task, name)
            assert manifest["sparsity"][name]["sparsity"] == pytest.approx(zeros, abs=1e-4)


def test_manifest_contents(shipped):
    for model, m in shipped.values():
        assert 0.0 < m["threshold"] < np.log(2)
        assert np.asarray(m["predictor_table"]).shape == (100, model.cfg.layers - 2)
        binned = binned_predictor(m)
        check_binned(binned.bins, binned.edges, model.cfg.layers, MAX_CLASSES)
        assert len(m["spans"]) == model.cfg.heads
        assert m["removable_heads"] == removable_heads(model.layer.spans)


def _copy(tmp_path):
    dst = tmp_path / "tiny"
    shutil.copytree(DEFAULT_MODEL_DIR, dst)
    return dst


def test_corrupt_weights_rejected(tmp_path):
    d = _copy(tmp_path)
    w = d / "sst2" / "weights.safetensors"
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        load_task(d, "sst2")


def test_truncated_embedding_rejected(tmp_path):
    d = _copy(tmp_path)
    e = d / EMBEDDING_FILE
    e.write_bytes(e.read_bytes()[:1000])
    with pytest.raises(ValueError, match="embedding table"):
        load_task(d, "mrpc")


def test_wrong_format_rejected(tmp_path):
    d = _copy(tmp_path)
    p = d / "sst2" / "task.json"
    m = json.loads(p.read_text())
    m["format"] = "edgebert-task-v0"
    p.write_text(json.dumps(m))
    with pytest.raises(ValueError, match="format"):
        read_manifest(d, "sst2")


def test_missing_task(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trained sst2 model"):
        load_task(tmp_path, "sst2")
