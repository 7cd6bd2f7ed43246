"""The one base class of errors that the command-line tools report as a single line."""
from __future__ import annotations


class UserError(ValueError):
    """A problem with the user's input (config, data, checkpoint, ...): shown as one line, exit code 2."""
