"""Generated files: the C++ interface header and the boards' Tcl table."""
from __future__ import annotations

import sys

import click

from edgebert.cli.options import emit, json_option


@click.command()
@click.option("--check", is_flag=True, help="Change nothing; exit 1 while a generated file is stale.")
@json_option()
def generate(check, as_json):
    """Regenerate hls/include/eb_interface.h and hls/tcl/boards.tcl from their definitions."""
    from edgebert.accel import generated
    from edgebert.core.paths import REPO_ROOT
    if check:
        problems = generated.stale()
        emit({"stale": problems}, as_json)
        if problems:
            sys.exit(1)
        return
    changed = generated.write_all()
    emit({str(p.relative_to(REPO_ROOT)): "written" if c else "up to date" for p, c in changed.items()}, as_json)


COMMANDS = [generate]
