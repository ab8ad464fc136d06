"""The files generated from the accelerator's definitions. They are committed, because the Vitis
HLS and Vivado flows read them and a user of those tools builds from `hls/` alone:

    hls/include/eb_interface.h   from edgebert.accel.interface (the accelerator's interface)
    hls/tcl/boards.tcl           from model_export/accel/boards.json (every board's facts)

`edgebert generate` rewrites them; `edgebert generate --check` and the tests fail while one is
stale.
"""
from __future__ import annotations

from pathlib import Path

from edgebert.accel import builds, interface


def stale() -> list[str]:
    """What is stale, one message per file (empty when everything is current)."""
    problems = []
    if not interface.header_is_current():
        problems.append(f"{interface.HEADER} differs from edgebert.accel.interface")
    tcl = builds.tcl_staleness()
    if tcl:
        problems.append(tcl)
    return problems


def write_all() -> dict[Path, bool]:
    """Regenerate every file; for each, whether its content changed."""
    before = interface.header_is_current()
    interface.write_header()
    return {interface.HEADER: not before, builds.BOARDS_TCL: builds.write_tcl()}
