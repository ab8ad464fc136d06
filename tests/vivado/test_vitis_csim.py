"""The Vitis HLS C-simulation flow of every board's build (hls/tcl/build.tcl, step csim): the
testbench `hls/tb/tb_accel.cpp`, compiled by Vitis HLS with the board's flags and the ap_int
types, runs golden-model vectors of SST-2 dev sentences and must report every sentence passed.

Opt in on a machine with Vitis HLS (2023.1 to 2024.2, `vitis_hls` on PATH, its settings64.sh
sourced):

    python -m pytest -m vivado

A missing `vitis_hls` fails the tests with a message, rather than skipping them: whoever opts in
wants to know.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import warnings

import pytest

from edgebert.accel.builds import get_build
from edgebert.core.paths import REPO_ROOT
from edgebert.core.tasks import encode_examples, get_task, read_examples
from edgebert.core.tokenization import Tokenizer

pytestmark = pytest.mark.vivado

BOARDS = ("pynq-z2", "zcu104", "kv260")
SENTENCES = 8                  # the first SST-2 dev sentences that fit the board's build
TIMEOUT_S = 3600


def _vitis_hls() -> str:
    exe = shutil.which("vitis_hls")
    if exe is None:
        pytest.fail("vitis_hls is not on PATH: source the Vitis HLS settings64.sh "
                    "(Vitis HLS 2023.1 to 2024.2; hls/tcl/README.md)", pytrace=False)
    return exe


def _vectors(board: str, artifact: dict, out):
    """The testbench's input for the board's build, as `edgebert csim testbench --board` writes
    it: images, sentences and the golden model's results and cycle counts for both stopping
    rules (early exit to the last layer, and to the predicted layer)."""
    from edgebert.sim.vectors import write_accelerator_vectors
    build = get_build(board)
    task = artifact["sst2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = encode_examples(read_examples(get_task("sst2"), "dev"), Tokenizer(task.cfg.max_len))
    enc = [e for e in enc if len(e.ids) <= build.limit("EB_MAX_LEN")][:SENTENCES]
    return write_accelerator_vectors(out, task, enc, n=build.n, policies=(0, 1),
                                     ramps_in_ddr=bool(build.limit("EB_RAMPS_IN_DDR"))), len(enc)


@pytest.mark.parametrize("board_name", BOARDS)
def test_vitis_hls_csim_passes(board_name, artifact, tmp_path):
    exe = _vitis_hls()
    if " " in str(tmp_path):
        pytest.fail(f"build.tcl refuses paths with spaces; the temporary folder is {tmp_path}", pytrace=False)
    vectors, n = _vectors(board_name, artifact, tmp_path / "vectors")
    proc = subprocess.run([exe, "-f", str(REPO_ROOT / "hls" / "tcl" / "build.tcl"), "-tclargs", board_name, "csim",
                           f"vectors_dir={vectors}", f"build_dir={tmp_path / 'hls'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT_S)
    log = proc.stdout + proc.stderr
    for f in (tmp_path / "hls" / board_name).glob("*/csim/report/*.log"):
        log += f.read_text(errors="replace")
    assert proc.returncode == 0, f"vitis_hls exited with {proc.returncode}:\n{log[-4000:]}"
    assert "build.tcl: done (csim)" in log, log[-4000:]
    tally = re.findall(r"sentences: (\d+) passed, (\d+) failed", log)
    assert tally, f"the testbench printed no sentence tally:\n{log[-4000:]}"
    assert (int(tally[-1][0]), int(tally[-1][1])) == (2 * n, 0), log[-4000:]
