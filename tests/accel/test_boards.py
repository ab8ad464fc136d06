"""The board table, model_export/accel/boards.json: the one place each board's facts are written.

- hls/tcl/boards.tcl is generated from it; a stale copy fails here, naming the command that
  regenerates it.
- Each board's part string occurs in exactly one source file, the table. Source files: those git
  tracks or would track (`git ls-files --cached --others --exclude-standard`), less the generated
  hls/tcl/boards.tcl, documentation (*.md) and what `make -C bitstreams` installs in
  bitstreams/<board>/ (timing.json, reports, bitstream, .hwh: written by Vivado).
- Its readers agree with it: the part capacities, the board runtime, the bitstream folders.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from edgebert.accel import builds as B
from edgebert.accel.resources import PARTS
from edgebert.runtime.boards import BOARDS, get_board

REPO = Path(__file__).resolve().parents[2]
GENERATED = {"hls/tcl/boards.tcl"}
INSTALLED = re.compile(r"bitstreams/[^/]+/(timing\.json|[^/]+\.(rpt|bit|hwh))")


def is_source(name: str) -> bool:
    return name not in GENERATED and not name.endswith(".md") and not INSTALLED.fullmatch(name)


def source_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, timeout=60)
    assert out.returncode == 0, f"git ls-files failed in {REPO}: {out.stderr.decode()}"
    names = [n for n in out.stdout.decode().split("\0") if n]
    return [n for n in names if is_source(n) and (REPO / n).is_file()]


def single_source_problems(texts: list[str], files: list[str]) -> list[str]:
    """For each text that is not in exactly one of the files: where it is."""
    content = {f: (REPO / f).read_bytes() for f in files}
    problems = []
    for text in texts:
        found = [f for f, data in content.items() if text.encode() in data]
        if len(found) != 1:
            problems.append(f"{text!r} is written in {len(found)} source files {found}, not only in "
                            f"{B.BOARDS_JSON.relative_to(REPO)}")
    return problems


def parts() -> list[str]:
    return [b["part"] for b in B.board_facts().values() if "capacity" in b]


def edited_table(tmp_path: Path, edit) -> Path:
    data = json.loads(B.BOARDS_JSON.read_text())
    edit(data["boards"])
    path = tmp_path / "boards.json"
    path.write_text(json.dumps(data))
    return path


# ---- the generated Tcl table -------------------------------------------------------------------
def test_generated_tcl_is_current():
    problem = B.tcl_staleness()
    assert problem is None, problem


def test_staleness_is_detected(tmp_path):
    """The check above fails when the table changes without regenerating, or the Tcl is edited."""
    def longer(boards):
        boards["kv260"]["build"]["limits"]["EB_MAX_LEN"] = 96
    problem = B.tcl_staleness(B.BOARDS_TCL, edited_table(tmp_path, longer))
    assert problem and "stale" in problem and B.REGENERATE in problem

    hand_edited = tmp_path / "boards.tcl"
    hand_edited.write_text(B.BOARDS_TCL.read_text().replace("m_axi_latency     64", "m_axi_latency     32", 1))
    assert B.tcl_staleness(hand_edited) and B.REGENERATE in B.tcl_staleness(hand_edited)
    assert B.REGENERATE in B.tcl_staleness(tmp_path / "missing.tcl")


def test_generation_is_deterministic(tmp_path):
    out = tmp_path / "boards.tcl"
    assert B.write_tcl(out) is True and B.write_tcl(out) is False
    assert out.read_text() == B.tcl_text() == B.tcl_text()
    text = out.read_text()
    assert text.startswith("# Per-board build parameters") and "GENERATED from model_export/accel/boards.json" in text
    assert B.REGENERATE in text


def test_generate_check_passes_on_the_tree_and_fails_on_a_stale_file(monkeypatch):
    from click.testing import CliRunner

    from edgebert.cli import main
    assert CliRunner().invoke(main, ["generate", "--check"]).exit_code == 0
    monkeypatch.setattr(B, "tcl_text", lambda path=B.BOARDS_JSON: "set eb_boards {}\n")
    r = CliRunner().invoke(main, ["generate", "--check", "--json"])
    assert r.exit_code == 1 and "boards.tcl is stale" in r.output and B.REGENERATE in r.output


def test_text_that_tcl_would_substitute_is_refused(tmp_path):
    def bracket(boards):
        boards["zcu104"]["build"]["board_part"] = "xilinx.com:[zcu104]"
    with pytest.raises(ValueError, match="plain Tcl word"):
        B.tcl_text(edited_table(tmp_path, bracket))


def test_a_board_lacking_a_fact_is_refused(tmp_path):
    def drop(boards):
        del boards["zcu104"]["pll_mhz"]
        del boards["zcu104"]["build"]["ps"]
    with pytest.raises(ValueError, match=r"'zcu104' lacks pll_mhz, build\.ps"):
        B.board_facts(edited_table(tmp_path, drop))

    def reorder(boards):
        lim = boards["kv260"]["build"]["limits"]
        boards["kv260"]["build"]["limits"] = dict(reversed(list(lim.items())))
    with pytest.raises(ValueError, match="'kv260': limits"):
        B.board_facts(edited_table(tmp_path, reorder))


# ---- one place per part string -----------------------------------------------------------------
def test_each_part_string_is_written_once():
    problems = single_source_problems(parts(), source_files())
    assert not problems, "\n".join(problems)


def test_part_string_check_can_fail(tmp_path):
    files = source_files()
    copy = tmp_path / "copy.tcl"
    copy.write_text(f"set_part {parts()[0]}\n")
    assert len(single_source_problems(parts(), files + [str(copy)])) == 1
    without_table = [f for f in files if REPO / f != B.BOARDS_JSON]
    assert len(single_source_problems(parts(), without_table)) == len(parts())
    assert not is_source("hls/tcl/boards.tcl") and not is_source("docs/board.md")
    assert not is_source("bitstreams/zcu104/timing.json") and is_source("bitstreams/zcu104/block_design.tcl")


# ---- the readers -------------------------------------------------------------------------------
def test_readers_agree_with_the_table():
    facts = B.board_facts()
    assert PARTS == {b["part"]: b["capacity"] for b in facts.values() if "capacity" in b}
    assert list(BOARDS) == list(facts)
    for name, f in facts.items():
        board = get_board(name)
        assert (board.part, board.pll_mhz, board.array_n, board.model_config) == (
            f["part"], f["pll_mhz"], f["n"], f["model_config"])
        assert board.fmax_mhz <= 1000.0 / f["clock_ns"]
    assert set(B.builds()) == {n for n, f in facts.items() if "build" in f}
    assert "sim" in facts and "build" not in facts["sim"]


def test_every_board_with_a_build_has_a_bitstream_folder():
    folders = {p.parent.name for p in (REPO / "bitstreams").glob("*/block_design.tcl")}
    assert folders == set(B.builds())
    for board in folders:
        assert (REPO / "bitstreams" / board / "constraints.xdc").is_file()
