"""Shared by the Tcl tests: finding tclsh, and reading the CALL lines that the stub harnesses
(hls/tcl/dryrun.tcl, bitstreams/dryrun.tcl) print for every vendor-tool command."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


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
