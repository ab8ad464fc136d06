"""Board builds: the parameters read from hls/tcl/boards.tcl, the resource estimate against
each part, and the build command."""
import json

import pytest
from click.testing import CliRunner

from edgebert.accel.builds import builds, get_build
from edgebert.accel.resources import bram18_blocks, estimate, uram_blocks
from edgebert.cli import main


def test_block_ram_mapping_by_hand():
    assert bram18_blocks(1024, 16) == 1          # 1K x 18
    assert bram18_blocks(2048, 16) == 2          # two 1K x 18 (or 2K x 9 twice)
    assert bram18_blocks(512, 64) == 2           # 512 x 36, twice as wide
    assert bram18_blocks(100, 1) == 1
    assert uram_blocks(4096, 72) == 1 and uram_blocks(4097, 128) == 4


def test_builds_come_from_the_tcl_board_table():
    b = builds()
    assert set(b) == {"zcu104", "kv260", "pynq-z2"}
    assert b["pynq-z2"].n == 8 and b["pynq-z2"].part == "xc7z020clg400-1"
    assert b["zcu104"].defines["EB_MAX_H"] == 256 and b["zcu104"].wbuf_storage == "uram"
    with pytest.raises(ValueError, match="builds exist for"):
        get_build("zedboard")


@pytest.mark.parametrize("board,model", [("zcu104", "edge"), ("kv260", "edge"), ("pynq-z2", "tiny")])
def test_each_board_estimate_fits_its_part(board, model):
    r = CliRunner().invoke(main, ["build", "--board", board, "--estimate", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.strip().splitlines()[-1])
    assert {"dsp", "bram36", "uram", "lut", "capacity", "fits"} <= set(out)
    assert out["fits"] is True and out["model_config"] == model and out["model_fits_buffers"]
    for k in ("dsp", "bram36", "uram", "lut"):
        assert out[k] <= out["capacity"][k]


def test_pynq_z2_needs_its_ddr_off_ramps_to_fit():
    b = get_build("pynq-z2")
    on_chip = dict(b.limits, EB_RAMPS_IN_DDR=0)
    assert estimate(b.n, b.limits, b.part)["fits"]
    assert not estimate(b.n, on_chip, b.part)["fits"]
    longer = dict(b.limits, EB_MAX_LEN=128)
    assert estimate(b.n, longer, b.part)["bram36"] > estimate(b.n, b.limits, b.part)["bram36"]


def test_build_without_estimate_points_to_make():
    r = CliRunner().invoke(main, ["build", "--board", "zcu104"])
    assert r.exit_code != 0 and "make -C bitstreams BOARD=zcu104" in r.output
