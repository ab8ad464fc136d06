"""Board builds: the parameters read from the board table (model_export/accel/boards.json), the
resource estimate against each part, and the build command."""
import dataclasses
import json

import pytest
from click.testing import CliRunner

from edgebert.accel.builds import board_facts, builds, get_build
from edgebert.accel.resources import bram18_blocks, estimate, uram_blocks
from edgebert.cli import main


def test_block_ram_mapping_by_hand():
    assert bram18_blocks(1024, 16) == 1          # 1K x 18
    assert bram18_blocks(2048, 16) == 2          # two 1K x 18 (or 2K x 9 twice)
    assert bram18_blocks(512, 64) == 2           # 512 x 36, twice as wide
    assert bram18_blocks(100, 1) == 1
    assert uram_blocks(4096, 72) == 1 and uram_blocks(4097, 128) == 4


BUILT = [name for name, b in board_facts().items() if "build" in b]


def test_builds_come_from_the_board_table():
    b = builds()
    assert set(b) == {"zcu104", "kv260", "pynq-z2"}
    for name, facts in board_facts().items():
        if name not in b:
            continue
        assert (b[name].part, b[name].n, b[name].clock_ns) == (facts["part"], facts["n"], facts["clock_ns"])
        assert b[name].defines == {"EB_N": facts["n"], **facts["build"]["limits"]}
        assert (b[name].wbuf_storage, b[name].act_storage) == (facts["build"]["wbuf_storage"],
                                                               facts["build"]["act_storage"])
    with pytest.raises(ValueError, match="builds exist for"):
        get_build("zedboard")
    with pytest.raises(ValueError, match="builds exist for"):
        get_build("sim")            # the C-simulation has no build of its own


@pytest.mark.parametrize("board", BUILT)
def test_each_board_estimate_fits_its_part(board):
    r = CliRunner().invoke(main, ["build", "--board", board, "--estimate", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.strip().splitlines()[-1])
    assert {"dsp", "bram36", "uram", "lut", "capacity", "fits"} <= set(out)
    facts = board_facts()[board]
    assert out["fits"] is True and out["model_config"] == facts["model_config"] and out["model_fits_buffers"]
    assert out["capacity"] == facts["capacity"] and out["part"] == facts["part"]
    for k in ("dsp", "bram36", "uram", "lut"):
        assert out[k] <= out["capacity"][k]
    assert out["task_images"] and all(t["fits"] for t in out["task_images"].values())


def test_task_fit_refuses_a_task_wider_than_the_build():
    """A task whose codes fit the weight store but whose hidden width exceeds the build's
    buffers does not fit: the loader would refuse it."""
    from edgebert.accel.fit import task_fit
    from edgebert.core.config import load_model_config
    from edgebert.train.synthetic import random_task
    b, tiny = get_build("kv260"), load_model_config("tiny")
    ok = task_fit(random_task(tiny), b)
    assert ok["fits"] and ok["fits_store"] and ok["fits_buffers"]
    wide = task_fit(random_task(dataclasses.replace(tiny, hidden=b.limit("EB_MAX_H") + 64), pruning=0.9), b)
    assert wide["fits_store"] and not wide["fits_buffers"] and not wide["fits"]


def test_pynq_z2_holds_its_off_ramps_on_chip_only_in_a_sparse_store():
    b = get_build("pynq-z2")
    on_chip = dict(b.limits, EB_RAMPS_IN_DDR=0)
    assert estimate(b.n, b.limits, b.part)["fits"]
    assert estimate(b.n, on_chip, b.part)["fits"]                 # 60 % of the dense codes
    for density in (80, 100):                                      # 100: the weights dense
        assert not estimate(b.n, dict(on_chip, EB_WEIGHT_DENSITY=density), b.part)["fits"]
    longer = dict(b.limits, EB_MAX_LEN=128)
    assert estimate(b.n, longer, b.part)["bram36"] > estimate(b.n, b.limits, b.part)["bram36"]


def test_build_without_estimate_points_to_make():
    r = CliRunner().invoke(main, ["build", "--board", "zcu104"])
    assert r.exit_code != 0 and "make -C bitstreams BOARD=zcu104" in r.output
