"""`edgebert`: the project's one command line (click), a thin layer over the library.

One module per group of commands; each lists its commands in COMMANDS. Expected failures
(`EdgeBertError`) are reported here, once, for every command."""
from __future__ import annotations

import click

from edgebert.core.errors import EdgeBertError


class EdgeBertGroup(click.Group):
    """Reports an expected failure as `Error: <message>` on one line, without a traceback, and
    exits with the error's code (2 for bad input)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeBertError as e:
            click.echo(f"Error: {' '.join(str(e).split())}", err=True)
            ctx.exit(e.exit_code)


@click.group(cls=EdgeBertGroup)
def main():
    """EdgeBERT on FPGA: train, compress, evaluate and run the accelerator."""


from edgebert.cli import bench, board, characterize, csim, demo, energy, generate, report, run, search, train  # noqa: E402

for _module in (train, run, csim, bench, energy, report, demo, board, generate, characterize, search):
    for _command in _module.COMMANDS:
        main.add_command(_command)

__all__ = ["main"]
