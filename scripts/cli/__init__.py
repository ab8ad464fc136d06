"""`edgebert`: the project's one command line (click), a thin layer over the library."""
from edgebert.cli.main import main

__all__ = ["main"]
