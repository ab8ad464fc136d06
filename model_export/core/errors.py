"""The project's errors: one base class, so that the command line reports every expected failure
the same way (a message naming the problem, no traceback)."""
from __future__ import annotations


class EdgeBertError(Exception):
    """An expected failure with a message for the user. `exit_code` is what the CLI returns."""
    exit_code = 1


class InputError(EdgeBertError, ValueError):
    """Bad input: a file, option or value the user gave (the CLI exits with 2)."""
    exit_code = 2


class DeviceError(EdgeBertError, RuntimeError):
    """The accelerator, its C-simulation build, the board or a power sensor failed."""


class MissingFileError(InputError, FileNotFoundError):
    """A file the user named, or the default one, does not exist (the CLI exits with 2)."""
