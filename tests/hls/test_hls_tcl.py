"""The Vitis HLS Tcl flow (hls/tcl/), checked without the vendor tools.

Every Tcl file must be syntactically complete under tclsh, and a dry run of build.tcl
(hls/tcl/dryrun.tcl: each Vitis HLS command is a stub that prints `CALL<TAB>cmd<TAB>args...`)
must issue the expected commands with the expected arguments for every board.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tcl_dryrun import DryRun, tclsh

from edgebert.accel.builds import board_facts

REPO = Path(__file__).resolve().parents[2]
TCL_DIR = REPO / "hls" / "tcl"

# The boards with a build, as the board table (model_export/accel/boards.json) gives them; the
# dry runs check that the Tcl flow passes each fact on.
BOARDS = {name: dict(part=b["part"], n=b["n"], clock=str(b["clock_ns"]), addr64=str(b["build"]["m_axi_addr64"]).lower(),
                     limits=b["build"]["limits"], model=b["model_config"])
          for name, b in board_facts().items() if "build" in b}
# build.tcl's default board.
DEFAULT_BOARD = "pynq-z2"


def dry_run(*args: str, cwd: Path = REPO) -> DryRun:
    proc = subprocess.run([tclsh(), str(TCL_DIR / "dryrun.tcl"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)
    return DryRun(proc)


def option(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


@pytest.fixture
def vectors(tmp_path) -> Path:
    d = tmp_path / "vectors"
    d.mkdir()
    return d


# ---- syntax ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["build.tcl", "boards.tcl", "directives.tcl", "dryrun.tcl"])
def test_tcl_file_is_complete(name):
    path = TCL_DIR / name
    script = f"set f [open {{{path}}}]; set t [read $f]; close $f; puts [info complete $t]"
    out = subprocess.run([tclsh()], input=script, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1", f"{name} is not a complete Tcl script"


def test_info_complete_detects_a_broken_script(tmp_path):
    """The syntax check above can fail: an unbalanced brace is reported."""
    bad = tmp_path / "bad.tcl"
    bad.write_text((TCL_DIR / "build.tcl").read_text().replace("proc die {msg} {", "proc die {msg} {{", 1))
    script = f"set f [open {{{bad}}}]; puts [info complete [read $f]]"
    out = subprocess.run([tclsh()], input=script, capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "0"


# ---- the default flow, per board ---------------------------------------------------------------
@pytest.mark.parametrize("board", list(BOARDS))
def test_default_flow_of_each_board(board, vectors, tmp_path):
    want = BOARDS[board]
    run = dry_run(board, f"vectors_dir={vectors}", f"build_dir={tmp_path / 'hls'}")
    assert run.returncode == 0, run.stderr
    assert run.one("set_part") == [want["part"]]
    assert run.one("set_top") == ["edgebert_top"]
    assert run.one("open_project") == ["-reset", board]
    assert run.one("open_solution") == ["-reset", "-flow_target", "vivado", "solution1"]
    assert run.one("create_clock") == ["-period", want["clock"], "-name", "default"]

    design, tb = run.named("add_files")
    assert design[0] == str(REPO / "hls" / "src" / "edgebert_top.cpp")
    cflags = option(design, "-cflags").split()
    defines = [f"-DEB_N={want['n']}"] + [f"-D{k}={v}" for k, v in want["limits"].items()]
    for flag in defines + ["-std=c++14", f"-I{REPO / 'hls' / 'include'}", f"-I{REPO / 'hls' / 'src'}"]:
        assert flag in cflags, f"{flag} missing from the design cflags {cflags}"
    assert not any("EB_NATIVE_TYPES" in f for f in cflags)
    assert "-DEB_TB_TOP" not in cflags

    assert tb[:2] == ["-tb", str(REPO / "hls" / "tb" / "tb_accel.cpp")]
    tb_flags = option(tb, "-cflags").split()
    assert set(defines) <= set(tb_flags)
    assert "-DEB_TB_TOP" in tb_flags and f"-I{REPO / 'hls' / 'tb'}" in tb_flags
    assert not any("EB_NATIVE_TYPES" in f for f in tb_flags)

    assert option(run.one("csim_design"), "-argv") == str(vectors)
    assert run.one("csynth_design") == []
    export = run.one("export_design")
    assert option(export, "-format") == "ip_catalog" and option(export, "-rtl") == "verilog"
    assert "-flow" not in export
    assert run.named("cosim_design") == []

    assert option(run.named("config_interface")[0], "-m_axi_latency").isdigit()
    assert [f"-m_axi_addr64={want['addr64']}"] in run.named("config_interface")
    # The on-chip buffer directives are opt-in.
    assert not any(c.startswith("set_directive_") for c in run.order())

    order = run.order()
    assert order.index("open_project") < order.index("set_top") < order.index("open_solution")
    assert order.index("open_solution") < order.index("set_part") < order.index("create_clock")
    assert order.index("create_clock") < order.index("csim_design") < order.index("csynth_design")
    assert order.index("csynth_design") < order.index("export_design") < order.index("exit")
    assert run.one("exit") == ["0"]
    assert str(tmp_path / "hls" / board / "solution1" / "impl" / "ip") in run.stdout


def test_all_runs_every_step_in_flow_order(vectors, tmp_path):
    run = dry_run("kv260", "export", "cosim", "csynth", "csim", f"vectors_dir={vectors}",
                  f"build_dir={tmp_path}")
    assert run.returncode == 0, run.stderr
    steps = [c for c in run.order() if c.endswith("_design")]
    assert steps == ["csim_design", "csynth_design", "cosim_design", "export_design"]
    cosim = run.one("cosim_design")
    assert option(cosim, "-argv") == str(vectors) and option(cosim, "-rtl") == "verilog"
    assert dry_run("kv260", "all", f"vectors_dir={vectors}", f"build_dir={tmp_path}").calls == run.calls


def test_relative_vectors_dir_is_taken_from_the_repository_root(tmp_path):
    rel = Path("build") / "vectors-dryrun-test"
    (REPO / rel).mkdir(parents=True, exist_ok=True)
    try:
        run = dry_run("zcu104", "csim", f"vectors_dir={rel}", f"build_dir={tmp_path}", cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        assert option(run.one("csim_design"), "-argv") == str(REPO / rel)
    finally:
        (REPO / rel).rmdir()


def test_steps_without_a_board_use_the_default_board(tmp_path):
    run = dry_run("csynth", f"build_dir={tmp_path}")
    assert run.returncode == 0, run.stderr
    assert run.one("set_part") == [BOARDS[DEFAULT_BOARD]["part"]]
    assert [c for c in run.order() if c.endswith("_design")] == ["csynth_design"]
    run = dry_run("csynth", "board=kv260", f"build_dir={tmp_path}")
    assert run.one("set_part") == [BOARDS["kv260"]["part"]]


def test_synthesis_alone_needs_no_testbench_or_vectors(tmp_path):
    run = dry_run("pynq-z2", "csynth", f"vectors_dir={tmp_path / 'none'}", f"build_dir={tmp_path}")
    assert run.returncode == 0, run.stderr
    assert [c for c in run.named("add_files") if c[0] == "-tb"] == []
    assert [c for c in run.order() if c.endswith("_design")] == ["csynth_design"]
    assert run.one("open_solution")[0] == "-reset"


def test_state_directives_name_the_buffers_with_the_array_size(tmp_path):
    run = dry_run("zcu104", "csynth", "state_directives=1", f"build_dir={tmp_path}")
    assert run.returncode == 0, run.stderr
    zcu, pynq_z2 = board_facts()["zcu104"], board_facts()["pynq-z2"]
    n = str(zcu["n"])
    reshape = {c[-1]: c for c in run.named("set_directive_array_reshape")}
    for buf in ("wcodes", "tbuf"):
        assert reshape[f"accel_state.{buf}"] == ["-type", "cyclic", "-factor", n, "-dim", "1", "edgebert_top",
                                                 f"accel_state.{buf}"]
    assert option(reshape["accel_state.wmask"], "-factor") == str(64 // int(n))     # 64-bit mask words
    parts = {c[-1]: c for c in run.named("set_directive_array_partition")}
    assert option(parts["accel_state.x"], "-dim") == "1" and option(parts["accel_state.v"], "-dim") == "2"
    assert all(option(c, "-factor") == n and option(c, "-type") == "cyclic" for c in parts.values())
    storage = {c[-1]: c for c in run.named("set_directive_bind_storage")}
    assert all(option(storage[f"accel_state.{b}"], "-impl") == zcu["build"]["wbuf_storage"] for b in ("wcodes", "wmask", "tbuf"))
    assert option(storage["accel_state.ffn_buf"], "-impl") == zcu["build"]["act_storage"]
    order = run.order()
    assert order.index("set_part") < order.index("set_directive_array_reshape") < order.index("csynth_design")

    pynq = dry_run("pynq-z2", "csynth", "state_directives=1", f"build_dir={tmp_path}")
    pynq_reshape = {c[-1]: c for c in pynq.named("set_directive_array_reshape")}
    assert option(pynq_reshape["accel_state.wcodes"], "-factor") == str(pynq_z2["n"])
    codes = {c[-1]: c for c in pynq.named("set_directive_bind_storage")}["accel_state.wcodes"]
    assert option(codes, "-impl") == pynq_z2["build"]["wbuf_storage"]


def test_cosim_or_export_alone_reuse_the_synthesized_solution(vectors, tmp_path):
    run = dry_run("zcu104", "cosim", "export", f"vectors_dir={vectors}", f"build_dir={tmp_path}")
    assert run.returncode != 0
    assert "run csynth first" in run.stderr
    assert "cosim_design" not in run.order()

    (tmp_path / "zcu104" / "solution1" / "syn" / "verilog").mkdir(parents=True)
    run = dry_run("zcu104", "cosim", "export", f"vectors_dir={vectors}", f"build_dir={tmp_path}")
    assert run.returncode == 0, run.stderr
    assert run.one("open_solution") == ["-flow_target", "vivado", "solution1"]   # not reset
    assert not any(c.startswith("set_directive_") or c == "config_interface" for c in run.order())
    assert [c for c in run.order() if c.endswith("_design")] == ["cosim_design", "export_design"]


def test_settings_from_the_command_line(vectors, tmp_path):
    run = dry_run("zcu104", "csynth", "export", "clock_ns=4", "export_flow=impl", "solution=s2",
                  "extra_cflags=-DEXTRA=1 -g", f"build_dir={tmp_path}")
    assert run.returncode == 0, run.stderr
    assert run.one("create_clock")[:2] == ["-period", "4"]
    assert option(run.one("export_design"), "-flow") == "impl"
    assert run.one("open_solution")[-1] == "s2"
    cflags = option(run.named("add_files")[0], "-cflags").split()
    assert "-DEXTRA=1" in cflags and "-g" in cflags


# ---- refusals ----------------------------------------------------------------------------------
def test_unknown_board_fails_naming_the_known_boards(tmp_path):
    run = dry_run("zcu102", f"build_dir={tmp_path}")
    assert run.returncode != 0
    assert "unknown board 'zcu102'" in run.stderr
    for board in BOARDS:
        assert board in run.stderr
    assert "open_project" not in run.order()


def test_unknown_step_fails(tmp_path):
    run = dry_run("zcu104", "synth", f"build_dir={tmp_path}")
    assert run.returncode != 0
    assert "unknown step 'synth'" in run.stderr and "csynth" in run.stderr
    assert "open_project" not in run.order()


@pytest.mark.parametrize("setting, message", [
    ("bogus=1", "unknown variable 'bogus'"),
    ("extra_cflags=-DEB_NATIVE_TYPES", "EB_NATIVE_TYPES"),
    ("clock_ns=fast", "clock_ns"),
    ("export_flow=route", "export_flow"),
    ("state_directives=yes", "state_directives"),
])
def test_bad_settings_fail(setting, message, tmp_path):
    run = dry_run("zcu104", "csynth", setting, f"build_dir={tmp_path}")
    assert run.returncode != 0
    assert message in run.stderr
    assert "csynth_design" not in run.order()


def test_simulation_without_vectors_fails_before_the_tool_runs(tmp_path):
    missing = tmp_path / "no-vectors"
    run = dry_run("pynq-z2", "csim", f"vectors_dir={missing}", f"build_dir={tmp_path}")
    assert run.returncode != 0
    assert str(missing) in run.stderr
    assert "csim_design" not in run.order()


def test_a_failing_step_stops_the_flow_with_status_1(vectors, tmp_path):
    """A Vitis command that raises an error (here a stub replaced by one that fails) ends the run."""
    wrapper = tmp_path / "failing.tcl"
    wrapper.write_text(
        f"rename ::source ::real_source\n"
        f"proc ::source {{path}} {{\n"
        f"    set r [uplevel 1 [list ::real_source $path]]\n"
        f"    if {{[file tail $path] eq \"boards.tcl\"}} {{\n"
        f"        proc ::csynth_design {{args}} {{ ::dryrun::record csynth_design $args; error \"synthesis failed\" }}\n"
        f"    }}\n"
        f"    return $r\n"
        f"}}\n"
        f"set argv [list zcu104 vectors_dir={vectors} build_dir={tmp_path}]\n"
        f"::real_source {{{TCL_DIR / 'dryrun.tcl'}}}\n")
    proc = subprocess.run([tclsh(), str(wrapper)], cwd=REPO, capture_output=True, text=True, timeout=60)
    run = DryRun(proc)
    assert run.returncode == 1, proc.stdout + proc.stderr
    assert "csynth failed: synthesis failed" in run.stderr
    assert "export_design" not in run.order()


# ---- boards.tcl as data ------------------------------------------------------------------------
def test_boards_tcl_prints_the_board_table_and_each_board_fits_its_model():
    """The generated Tcl table, read back by tclsh, is the board table's builds (the text itself is
    checked against the generator in tests/accel/test_boards.py)."""
    out = subprocess.run([tclsh(), str(TCL_DIR / "boards.tcl")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    boards = json.loads(out.stdout)
    facts = board_facts()
    assert list(boards) == list(BOARDS)
    for name, got in boards.items():
        want = facts[name]
        assert {k: v for k, v in got.items() if k not in want["build"]} == {
            k: want[k] for k in ("part", "n", "clock_ns", "pll_mhz")}
        assert {k: v for k, v in got.items() if k in want["build"]} == want["build"]
        cfg = json.loads((REPO / "configs" / "model" / f"{BOARDS[name]['model']}.json").read_text())
        assert cfg["hidden"] <= got["limits"]["EB_MAX_H"]
        assert cfg["ffn"] <= got["limits"]["EB_MAX_FFN"]
        assert cfg["heads"] <= got["limits"]["EB_MAX_HEADS"]
        assert cfg["embed_dim"] <= got["limits"]["EB_MAX_E"]
        # A build may hold shorter sentences than the model was trained for (the accelerator
        # then refuses longer ones and the host truncates to the build's length), but never
        # fewer than the longest SST-2 dev sentence (55 tokens).
        assert 55 <= got["limits"]["EB_MAX_LEN"] <= cfg["max_len"]
        assert got["limits"]["EB_MAX_H"] % got["n"] == 0 and got["limits"]["EB_MAX_FFN"] % got["n"] == 0
