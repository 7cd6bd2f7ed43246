"""The one base class of errors that the command-line tools report as a single line."""
from __future__ import annotations


class UserError(ValueError):
    """A problem with the user's input (config, data, checkpoint, ...): shown as one line, exit code 2."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type name when empty), for one-line errors."""
    return str(err).splitlines()[0] if str(err) else type(err).__name__
