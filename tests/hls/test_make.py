"""The overlay Makefile (bitstreams/Makefile), checked without the vendor tools: it refuses a
missing or unknown board and missing tools at once, and with stand-in tools on PATH it runs the
steps in order and installs the outputs."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
from tcl_dryrun import BOARDS, tclsh

REPO = Path(__file__).resolve().parents[2]
BIT_DIR = REPO / "bitstreams"
DRYRUN = BIT_DIR / "dryrun.tcl"


def make() -> str:
    path = shutil.which("make") or ("/usr/bin/make" if Path("/usr/bin/make").exists() else None)
    if path is None:
        pytest.fail("make is not installed; the Makefile tests need GNU make (Debian/Ubuntu: apt-get install make)")
    return path


def run_make(*args: str, path: str, env: dict | None = None, timeout: float = 30) -> tuple[subprocess.CompletedProcess, float]:
    full_env = {"PATH": path, "HOME": os.environ.get("HOME", "/tmp"), "LC_ALL": "C"}
    full_env.update(env or {})
    start = time.monotonic()
    proc = subprocess.run([make(), "-C", str(BIT_DIR), *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    return proc, time.monotonic() - start


def write_tool(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    tool = directory / name
    tool.write_text("#!/bin/sh\n" + body)
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return tool


def test_make_without_a_board_names_the_boards(tmp_path):
    proc, _ = run_make(path=str(tmp_path))
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "no board given" in text
    # The Makefile's boards (its per-board folders) are exactly the board table's.
    named = text.split("one of:", 1)[1].split(".")[0].split()
    assert sorted(named) == sorted(BOARDS), named


def test_make_with_an_unknown_board_names_the_boards(tmp_path):
    proc, _ = run_make("BOARD=zcu102", path=str(tmp_path))
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "unknown board 'zcu102'" in text
    for board in BOARDS:
        assert board in text


@pytest.mark.parametrize("path", ["/usr/bin:/bin", "empty"])
@pytest.mark.parametrize("board", BOARDS)
def test_make_stops_at_once_without_the_tools(board, path, tmp_path):
    if path == "empty":
        path = str(tmp_path / "empty")
        Path(path).mkdir()
    assert shutil.which("vivado", path=path) is None and shutil.which("vitis_hls", path=path) is None, \
        f"this test needs a PATH without the vendor tools; {path} has them"
    proc, seconds = run_make(f"BOARD={board}", f"BUILD={tmp_path / 'build'}", path=path)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert seconds < 5, f"took {seconds:.1f} s"
    assert "'vitis_hls' is not on PATH" in text and "'vivado' is not on PATH" in text
    assert "Vitis HLS 2023.2 or later" in text and "Vivado 2023.2 or later" in text
    if board == "pynq-z2":
        assert "PYNQ 3.1" in text and "2022.1" in text
    assert "vitis_hls -f" not in text and "mkdir" not in text  # nothing else was started
    assert not (tmp_path / "build").exists()


def test_make_names_only_the_missing_tool_and_runs_nothing(tmp_path):
    bin_dir = tmp_path / "bin"
    marker = tmp_path / "vitis_hls_ran"
    write_tool(bin_dir, "vitis_hls", f"touch {marker}\n")
    proc, seconds = run_make("BOARD=zcu104", f"BUILD={tmp_path / 'build'}", path=f"{bin_dir}:/usr/bin:/bin")
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "'vivado' is not on PATH" in text and "'vitis_hls' is not on PATH" not in text
    assert not marker.exists(), "vitis_hls ran although vivado is missing"
    assert not (tmp_path / "build").exists()


def test_check_tools_works_with_an_empty_environment(tmp_path):
    proc = subprocess.run(["/bin/sh", str(BIT_DIR / "check_tools.sh"), "kv260"], capture_output=True, text=True,
                          timeout=10, env={}, cwd=tmp_path)
    assert proc.returncode == 1
    assert "'vivado' is not on PATH" in proc.stderr and "Zynq UltraScale+" in proc.stderr


def fake_tools(tmp_path: Path, wns: str = "0.123") -> tuple[Path, Path]:
    """Stand-ins for vitis_hls (writes the IP's component.xml where build.tcl's export would) and
    vivado (runs the -source script under dryrun.tcl); each logs its command line."""
    bin_dir, log = tmp_path / "bin", tmp_path / "tools.log"
    write_tool(bin_dir, "vitis_hls", f"""echo "vitis_hls $*" >> {log}
board=""; build=""; seen=""
for a in "$@"; do
    case $a in
        build_dir=*) build=${{a#build_dir=}} ;;
        -tclargs) seen=1 ;;
        *) if [ -n "$seen" ] && [ -z "$board" ]; then board=$a; fi ;;
    esac
done
mkdir -p "$build/$board/solution1/impl/ip" && echo '<component/>' > "$build/$board/solution1/impl/ip/component.xml"
""")
    write_tool(bin_dir, "vivado", f"""echo "vivado $*" >> {log}
script=""
while [ $# -gt 0 ]; do
    case $1 in
        -source) script=$2; shift 2 ;;
        -tclargs) shift; break ;;
        *) shift ;;
    esac
done
EB_DRYRUN_WNS={wns} exec {tclsh()} {DRYRUN} "$script" "$@"
""")
    return bin_dir, log


def test_make_runs_the_flow_and_installs_the_outputs(tmp_path):
    bin_dir, log = fake_tools(tmp_path)
    build, dest = tmp_path / "build", tmp_path / "dest"
    proc, _ = run_make("BOARD=zcu104", f"BUILD={build}", f"DEST={dest}", path=f"{bin_dir}:/usr/bin:/bin", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    hls, vivado = log.read_text().splitlines()
    assert hls.startswith("vitis_hls -f ") and hls.split()[2] == str(REPO / "hls" / "tcl" / "build.tcl")
    assert hls.split()[3:7] == ["-tclargs", "zcu104", "csynth", "export"]
    assert f"build_dir={build / 'hls'}" in hls.split()
    words = vivado.split()
    assert words[words.index("-mode") + 1] == "batch"
    assert words[words.index("-source") + 1] == str(BIT_DIR / "zcu104" / "block_design.tcl")
    assert words[words.index("-tclargs") + 1:] == [str(build / "hls" / "zcu104" / "solution1" / "impl" / "ip"),
                                                    str(build / "vivado" / "zcu104" / "out"),
                                                    str(build / "vivado" / "zcu104" / "project")]
    for name in ["edgebert_zcu104.bit", "edgebert_zcu104.hwh", "timing.json", "timing_summary.rpt"]:
        assert (dest / name).is_file(), name
    assert json.loads((dest / "timing.json").read_text())["fmax_mhz"] > BOARDS["zcu104"]["mhz"]

    # A second run finds the IP up to date and goes straight to Vivado.
    proc, _ = run_make("BOARD=zcu104", f"BUILD={build}", f"DEST={dest}", path=f"{bin_dir}:/usr/bin:/bin", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [ln.split()[0] for ln in log.read_text().splitlines()] == ["vitis_hls", "vivado", "vivado"]


def test_make_fails_and_installs_nothing_when_timing_fails(tmp_path):
    bin_dir, _ = fake_tools(tmp_path, wns="-1.5")
    dest = tmp_path / "dest"
    proc, _ = run_make("BOARD=pynq-z2", f"BUILD={tmp_path / 'build'}", f"DEST={dest}",
                       path=f"{bin_dir}:/usr/bin:/bin", timeout=120)
    assert proc.returncode != 0
    assert "timing not met" in proc.stderr
    assert not (dest / "edgebert_pynq-z2.bit").exists() and not (dest / "timing.json").exists()


def test_make_estimate_and_clean(tmp_path):
    proc, _ = run_make("estimate", "BOARD=kv260", path="/usr/bin:/bin")
    assert proc.returncode == 0 and "edgebert build --board kv260 --estimate" in proc.stdout
    build = tmp_path / "build"
    (build / "vivado" / "kv260").mkdir(parents=True)
    (build / "vivado" / "zcu104").mkdir(parents=True)
    proc, _ = run_make("clean", "BOARD=kv260", f"BUILD={build}", path="/usr/bin:/bin")
    assert proc.returncode == 0, proc.stderr
    assert not (build / "vivado" / "kv260").exists() and (build / "vivado" / "zcu104").exists()
