"""Shared command-line plumbing: user errors become one line on stderr and exit code 2."""
from __future__ import annotations

import sys
from typing import Callable

from .config import ConfigError


def user_error_types() -> tuple[type[BaseException], ...]:
    from .data import DataError
    from .engine.checkpoint import CheckpointError
    from .engine.trainer import NonFiniteError

    return (ConfigError, DataError, CheckpointError, NonFiniteError)


def fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def run_cli(job: Callable[[], int]) -> int:
    """Run ``job``; known user errors print one line instead of a traceback."""
    try:
        return job()
    except user_error_types() as err:
        return fail(str(err))
    except FileNotFoundError as err:
        return fail(f"file not found: {err.filename or err}")
