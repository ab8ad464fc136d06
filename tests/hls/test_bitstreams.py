"""The overlay build (bitstreams/), checked without the vendor tools.

- Every Tcl file of bitstreams/ and hls/tcl/ is syntactically complete under tclsh.
- Each board's block_design.tcl runs under bitstreams/dryrun.tcl, where every Vivado command is a
  stub that prints `CALL<TAB>cmd<TAB>args...`: the part and board part, the PS and its settings,
  the accelerator IP, the AXI paths (control from the PS master, the two data masters to two
  HP ports), clock, reset, interrupt, addresses, the runs, the timing check, the bitstream, the
  .hwh and timing.json.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest
import tcl_dryrun
from tcl_dryrun import BOARDS, tclsh

REPO = Path(__file__).resolve().parents[2]
BIT_DIR = REPO / "bitstreams"
DRYRUN = BIT_DIR / "dryrun.tcl"
IP_VLNV = "xilinx.com:hls:edgebert_top"


def tcl_words(text: str) -> list[str]:
    """The elements of a Tcl list (braces and plain words; enough for the -dict values)."""
    words, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if text[i] == "{":
            depth, j = 1, i + 1
            while depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            words.append(text[i + 1:j - 1])
            i = j
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            words.append(text[i:j])
            i = j
    return words


class DryRun(tcl_dryrun.DryRun):
    def __init__(self, proc: subprocess.CompletedProcess, out: Path):
        super().__init__(proc)
        self.out = out

    def cells(self) -> dict[str, str]:
        """cell name -> VLNV of every create_bd_cell."""
        return {args[-1]: args[args.index("-vlnv") + 1] for args in self.named("create_bd_cell")}

    def cell_config(self, cell: str) -> dict[str, str]:
        config: dict[str, str] = {}
        for args in self.named("set_property"):
            if args[0] == "-dict" and args[-1] == cell:
                words = tcl_words(args[1])
                config.update(zip(words[::2], words[1::2]))
        return config

    def nets(self) -> list[set[str]]:
        return [set(args) for args in self.named("connect_bd_net")]

    def net_of(self, pin: str) -> set[str]:
        found = [n for n in self.nets() if pin in n]
        assert len(found) == 1, f"pin {pin} is on {len(found)} nets: {found}"
        return found[0]

    def axi_reaches(self, start: str, goal: str) -> bool:
        """Whether an AXI path leads from interface pin start to goal: interface nets, and
        through a SmartConnect or AXI interconnect from any of its ports to any other."""
        edges: dict[str, set[str]] = {}
        for a, b in self.named("connect_bd_intf_net"):
            edges.setdefault(a, set()).add(b)
            edges.setdefault(b, set()).add(a)
        switches = {c for c, v in self.cells().items() if "smartconnect" in v or "axi_interconnect" in v}
        seen, todo = {start}, [start]
        while todo:
            pin = todo.pop()
            if pin == goal:
                return True
            nxt = set(edges.get(pin, ()))
            cell = pin.split("/")[0]
            if cell in switches:
                nxt |= {p for p in edges if p.split("/")[0] == cell}
            for p in nxt - seen:
                seen.add(p)
                todo.append(p)
        return False


def dry_run(board: str, ip_repo: Path | None, out: Path, project: Path, env: dict | None = None,
            args: list[str] | None = None) -> DryRun:
    script = BIT_DIR / board / "block_design.tcl"
    argv = args if args is not None else [str(ip_repo), str(out), str(project)]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EB_")}
    full_env.update(env or {})
    proc = subprocess.run([tclsh(), str(DRYRUN), str(script), *argv], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env=full_env)
    return DryRun(proc, out)


@pytest.fixture
def ip_repo(tmp_path) -> Path:
    d = tmp_path / "hls" / "solution1" / "impl" / "ip"
    d.mkdir(parents=True)
    (d / "component.xml").write_text("<component/>\n")
    return d


# ---- syntax ------------------------------------------------------------------------------------
TCL_FILES = sorted(BIT_DIR.rglob("*.tcl")) + sorted((REPO / "hls" / "tcl").glob("*.tcl"))


def info_complete(path: Path) -> str:
    script = f"set f [open {{{path}}}]; set t [read $f]; close $f; puts [info complete $t]"
    out = subprocess.run([tclsh()], input=script, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_tcl_files_are_there():
    names = {p.relative_to(REPO).as_posix() for p in TCL_FILES}
    for want in ["bitstreams/common.tcl", "bitstreams/dryrun.tcl", "hls/tcl/build.tcl", "hls/tcl/boards.tcl",
                 *(f"bitstreams/{b}/block_design.tcl" for b in BOARDS)]:
        assert want in names


@pytest.mark.parametrize("path", TCL_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_tcl_file_is_complete(path):
    assert info_complete(path) == "1", f"{path} is not a complete Tcl script"


def test_info_complete_detects_a_broken_script(tmp_path):
    bad = tmp_path / "bad.tcl"
    bad.write_text((BIT_DIR / "common.tcl").read_text().replace("proc eb_die {msg} {", "proc eb_die {msg} {{", 1))
    assert info_complete(bad) == "0"


@pytest.mark.parametrize("board", BOARDS)
def test_constraints_file_is_valid_xdc(board):
    """Only comments or Tcl commands; here, by design, comments only (no PL pins)."""
    xdc = BIT_DIR / board / "constraints.xdc"
    lines = [ln.strip() for ln in xdc.read_text().splitlines()]
    assert lines and all(ln == "" or ln.startswith("#") for ln in lines), xdc
    assert info_complete(xdc) == "1"


# ---- the block design of each board ------------------------------------------------------------
@pytest.mark.parametrize("board", BOARDS)
def test_block_design_of_each_board(board, ip_repo, tmp_path):
    want = BOARDS[board]
    out, project = tmp_path / "out", tmp_path / "project"
    run = dry_run(board, ip_repo, out, project)
    assert run.returncode == 0, run.stdout + run.stderr

    # Project: the part of boards.tcl and the board's preset.
    args = run.one("create_project")
    assert args[args.index("-part") + 1] == want["part"]
    assert Path(args[args.index("-part") - 1]) == project
    assert ["board_part", want["board_part"]] == [a for a in run.named("set_property") if a[0] == "board_part"][0][:2]
    assert [str(ip_repo)] == [a[1] for a in run.named("set_property") if a[0] == "ip_repo_paths"]
    assert any(a[-1].endswith(f"{board}/constraints.xdc") for a in run.named("add_files"))

    # Cells: the PS, the HLS IP, a reset.
    cells = run.cells()
    ps = [c for c, v in cells.items() if v.startswith(want["ps_vlnv"])]
    ip = [c for c, v in cells.items() if v.startswith(IP_VLNV + ":") or v == IP_VLNV]
    assert len(ps) == 1 and len(ip) == 1, cells
    ps, ip = ps[0], ip[0]
    rst = [c for c, v in cells.items() if "proc_sys_reset" in v]
    assert len(rst) == 1, cells
    rst = rst[0]
    automation = run.named("apply_bd_automation")
    assert any(a[-1] == ps and "apply_board_preset" in a[a.index("-config") + 1] for a in automation), automation

    # PS settings: the HP ports, the interrupt input, PL clock 0.
    config = run.cell_config(ps)
    if want["ps_vlnv"].endswith("processing_system7"):
        for key in ["PCW_USE_M_AXI_GP0", "PCW_USE_S_AXI_HP0", "PCW_USE_S_AXI_HP1", "PCW_USE_FABRIC_INTERRUPT",
                    "PCW_IRQ_F2P_INTR", "PCW_EN_CLK0_PORT"]:
            assert config.get(f"CONFIG.{key}") == "1", (key, config)
        assert float(config["CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"]) == want["mhz"]
    else:
        for key in ["PSU__USE__M_AXI_GP0", "PSU__USE__S_AXI_GP2", "PSU__USE__S_AXI_GP3", "PSU__USE__IRQ0",
                    "PSU__FPGA_PL0_ENABLE"]:
            assert config.get(f"CONFIG.{key}") == "1", (key, config)
        assert config.get("CONFIG.PSU__USE__M_AXI_GP1") == "0"  # its clock would be left open
        assert config["CONFIG.PSU__CRL_APB__PL0_REF_CTRL__SRCSEL"] == "IOPLL"
        # E.g. 200 MHz (5 ns) is not reachable from a 1500 MHz IO PLL; 1500 / 8 = 187.5 MHz is.
        assert float(config["CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"]) == want["mhz"]

    # AXI: control from the PS master, gmem0 -> HP0 and gmem1 -> HP1, and not crossed.
    hp0, hp1 = (f"{ps}/{p}" for p in want["hp"])
    assert run.axi_reaches(f"{ps}/{want['master']}", f"{ip}/s_axi_control")
    assert run.axi_reaches(f"{ip}/m_axi_gmem0", hp0)
    assert run.axi_reaches(f"{ip}/m_axi_gmem1", hp1)
    assert not run.axi_reaches(f"{ip}/m_axi_gmem0", hp1)
    assert not run.axi_reaches(f"{ip}/m_axi_gmem1", hp0)
    assert not run.axi_reaches(f"{ip}/m_axi_gmem0", f"{ip}/s_axi_control")

    # One clock for everything, including every PS AXI port's clock; one reset.
    clock = run.net_of(f"{ps}/{want['clk']}")
    assert f"{ip}/ap_clk" in clock and f"{rst}/slowest_sync_clk" in clock
    for pin in want["aclks"]:
        assert f"{ps}/{pin}" in clock, pin
    switches = [c for c, v in cells.items() if "smartconnect" in v]
    assert len(switches) == 3
    for sc in switches:
        assert f"{sc}/aclk" in clock
        assert f"{sc}/aresetn" in run.net_of(f"{rst}/peripheral_aresetn")
    assert f"{ip}/ap_rst_n" in run.net_of(f"{rst}/peripheral_aresetn")
    assert f"{rst}/ext_reset_in" in run.net_of(f"{ps}/{want['resetn']}")

    # Interrupt: the accelerator's line reaches the PS's interrupt input (directly or through a
    # concat cell).
    irq_net = run.net_of(f"{ip}/interrupt")
    concat = [c for c, v in cells.items() if "concat" in v]
    ps_irq = f"{ps}/{want['irq']}"
    assert ps_irq in irq_net or any(p.split("/")[0] in concat and ps_irq in run.net_of(f"{p.split('/')[0]}/dout")
                                    for p in irq_net)

    # Addresses: control registers at the documented base of the PS master's window.
    placed = [a for a in run.named("assign_bd_address") if "-offset" in a]
    assert len(placed) == 1, placed
    a = placed[0]
    assert int(a[a.index("-offset") + 1], 16) == want["ctrl"]
    assert a[a.index("-target_address_space") + 1] == f"{ps}/Data"
    assert f"{ip}/s_axi_control/Reg" in a
    assert [] in run.named("assign_bd_address"), "the other segments are not assigned"

    # Flow: validate, wrapper, synthesis, implementation, timing, then the bitstream.
    order = run.order()
    for cmd in ["validate_bd_design", "generate_target", "make_wrapper", "launch_runs", "open_run",
                "report_timing_summary", "write_bitstream"]:
        assert cmd in order, cmd
    assert order.index("assign_bd_address") < order.index("validate_bd_design") < order.index("make_wrapper")
    assert [a[0] for a in run.named("launch_runs")] == ["synth_1", "impl_1"]
    assert order.index("report_timing_summary") < order.index("write_bitstream")
    stats = [a[0] for a in run.named("get_property")]
    assert "STATS.WNS" in stats and order.index("write_bitstream") > max(
        i for i, c in enumerate(run.calls) if c[0] == "get_property" and c[1] == "STATS.WNS")
    assert run.one("write_bitstream") == ["-force", str(out / f"edgebert_{board}.bit")]
    assert run.order()[-1] == "exit" and run.calls[-1][1] == "0"

    # Outputs: bitstream and .hwh of the same stem, timing.json with the fmax of the stub's WNS.
    assert (out / f"edgebert_{board}.bit").is_file()
    hwh = out / f"edgebert_{board}.hwh"
    assert hwh.is_file() and "EDKSYSTEM" in hwh.read_text()
    timing = json.loads((out / "timing.json").read_text())
    period = 1000.0 / want["mhz"]
    assert math.isclose(timing["fmax_mhz"], 1000.0 / (period - 0.123), rel_tol=1e-4)
    assert want["mhz"] < timing["fmax_mhz"] < want["mhz"] * 1.05
    assert timing["timing_met"] is True and timing["wns_ns"] == pytest.approx(0.123)
    assert timing["board"] == board and timing["part"] == want["part"]
    # host/runtime/boards.py reads exactly this field as a float.
    assert float(json.loads((out / "timing.json").read_text())["fmax_mhz"]) == timing["fmax_mhz"]


@pytest.mark.parametrize("board", BOARDS)
def test_negative_slack_fails_without_a_bitstream(board, ip_repo, tmp_path):
    out = tmp_path / "out"
    run = dry_run(board, ip_repo, out, tmp_path / "project", env={"EB_DRYRUN_WNS": "-0.250"})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "timing not met" in run.stderr and "-0.250" in run.stderr
    assert run.named("write_bitstream") == []
    assert not (out / f"edgebert_{board}.bit").exists() and not (out / f"edgebert_{board}.hwh").exists()
    timing = json.loads((out / "timing.json").read_text())
    assert timing["timing_met"] is False
    assert timing["fmax_mhz"] < BOARDS[board]["mhz"]


def test_negative_hold_slack_fails(ip_repo, tmp_path):
    run = dry_run("zcu104", ip_repo, tmp_path / "out", tmp_path / "project", env={"EB_DRYRUN_WHS": "-0.02"})
    assert run.returncode == 1
    assert "timing not met" in run.stderr and "hold" in run.stderr
    assert run.named("write_bitstream") == []


def test_fmax_uses_the_clock_period_vivado_reports(ip_repo, tmp_path):
    """The IO PLL of the board preset is not exactly 1500 MHz; the constrained period counts."""
    out = tmp_path / "out"
    run = dry_run("zcu104", ip_repo, out, tmp_path / "project",
                  env={"EB_DRYRUN_PERIOD": "5.334", "EB_DRYRUN_WNS": "0.5"})
    assert run.returncode == 0, run.stderr
    assert ["PERIOD", "clk_pl_0"] in run.named("get_property")
    timing = json.loads((out / "timing.json").read_text())
    assert timing["fmax_mhz"] == pytest.approx(1000.0 / (5.334 - 0.5), rel=1e-4)


def test_missing_ip_fails_before_vivado_does_anything(tmp_path):
    missing = tmp_path / "no_ip"
    run = dry_run("zcu104", missing, tmp_path / "out", tmp_path / "project")
    assert run.returncode == 1
    assert str(missing) in run.stderr and "csynth export" in run.stderr
    assert "create_project" not in run.order()


def test_unfinished_run_fails(ip_repo, tmp_path):
    run = dry_run("kv260", ip_repo, tmp_path / "out", tmp_path / "project", env={"EB_DRYRUN_PROGRESS": "40%"})
    assert run.returncode == 1
    assert "did not complete" in run.stderr
    assert run.named("write_bitstream") == []


def test_old_vivado_is_refused(ip_repo, tmp_path):
    run = dry_run("pynq-z2", ip_repo, tmp_path / "out", tmp_path / "project", env={"EB_DRYRUN_VERSION": "2022.1"})
    assert run.returncode == 1
    assert "2022.1" in run.stderr and "2023.2" in run.stderr
    assert "create_project" not in run.order()


def test_missing_board_files_are_named(ip_repo, tmp_path):
    run = dry_run("pynq-z2", ip_repo, tmp_path / "out", tmp_path / "project", env={"EB_DRYRUN_NO_BOARD": "1"})
    assert run.returncode == 1
    assert BOARDS["pynq-z2"]["board_part"] in run.stderr and "EB_BOARD_REPO_PATHS" in run.stderr


def test_wrong_arguments_print_the_usage(tmp_path):
    run = dry_run("zcu104", None, tmp_path / "out", tmp_path / "project", args=[str(tmp_path)])
    assert run.returncode == 1
    assert "usage:" in run.stderr and "IP_REPO OUT_DIR" in run.stderr
