"""Shared by the Tcl tests: finding tclsh, reading the CALL lines that the stub harnesses
(hls/tcl/dryrun.tcl, bitstreams/dryrun.tcl) print for every vendor-tool command, and the boards
with an overlay as the board table gives them."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edgebert.accel.builds import board_facts


def tclsh() -> str:
    path = shutil.which("tclsh") or ("/usr/bin/tclsh" if Path("/usr/bin/tclsh").exists() else None)
    if path is None:
        pytest.fail("tclsh is not installed; these tests need it (Debian/Ubuntu: apt-get install tcl)")
    return path


class DryRun:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.calls = [line.split("\t")[1:] for line in proc.stdout.splitlines() if line.startswith("CALL\t")]

    def named(self, cmd: str) -> list[list[str]]:
        return [c[1:] for c in self.calls if c[0] == cmd]

    def one(self, cmd: str) -> list[str]:
        found = self.named(cmd)
        assert len(found) == 1, f"{cmd} called {len(found)} times:\n{self.stdout}\n{self.stderr}"
        return found[0]

    def order(self) -> list[str]:
        return [c[0] for c in self.calls]


# What each kind of processing system looks like in the block design (its IP's pin names).
PS_KINDS = {
    "zynq_ultra_ps_e": dict(ps_vlnv="xilinx.com:ip:zynq_ultra_ps_e", master="M_AXI_HPM0_FPD",
                            hp=("S_AXI_HP0_FPD", "S_AXI_HP1_FPD"), clk="pl_clk0", resetn="pl_resetn0",
                            aclks=("maxihpm0_fpd_aclk", "saxihp0_fpd_aclk", "saxihp1_fpd_aclk"),
                            irq="pl_ps_irq0", ctrl=0xA0000000),
    "processing_system7": dict(ps_vlnv="xilinx.com:ip:processing_system7", master="M_AXI_GP0",
                               hp=("S_AXI_HP0", "S_AXI_HP1"), clk="FCLK_CLK0", resetn="FCLK_RESET0_N",
                               aclks=("M_AXI_GP0_ACLK", "S_AXI_HP0_ACLK", "S_AXI_HP1_ACLK"),
                               irq="IRQ_F2P", ctrl=0x40000000),
}


def reachable_mhz(pll_mhz: float, target_mhz: float) -> float:
    """The highest PL clock at or below the target that the PS's two 6-bit dividers make."""
    return max(f for d0 in range(1, 64) for d1 in range(1, 64) if (f := pll_mhz / (d0 * d1)) <= target_mhz + 1e-9)


# The boards with an overlay, as the board table (model_export/accel/boards.json) gives them.
BOARDS = {name: dict(part=b["part"], board_part=b["build"]["board_part"],
                     mhz=reachable_mhz(b["pll_mhz"], 1000.0 / b["clock_ns"]), **PS_KINDS[b["build"]["ps"]])
          for name, b in board_facts().items() if "build" in b}
