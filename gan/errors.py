"""The errors that the command-line tools report as a single line, one class per kind of input.

Every module raises these from here (never from a sibling that happens to define them), so that no
module has to import a heavier one only to name an error.
"""
from __future__ import annotations


class UserError(ValueError):
    """A problem with the user's input (config, data, checkpoint, ...): shown as one line, exit code 2."""


class ConfigError(UserError):
    """A config problem: the key, the bad value and what is allowed."""


class DataError(UserError):
    """A dataset problem (missing folder, unreadable image or mask, too few items)."""


class CheckpointError(UserError):
    """A checkpoint or export that cannot be used."""


class ExportError(UserError):
    """An export that cannot be written, verified or uploaded."""


class OutputError(UserError):
    """An output path that would overwrite inputs, or outputs that would not fit."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type name when empty), for one-line errors."""
    return str(err).splitlines()[0] if str(err) else type(err).__name__
