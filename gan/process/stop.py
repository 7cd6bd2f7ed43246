"""A process-wide "stop requested" flag: set by the trainer's signal handler, polled by long hooks.

The trainer only looks at signals between steps; a hook that runs for minutes (periodic
evaluation) calls :func:`raise_if_stop_requested` between its batches so that a preempted run
saves its checkpoint and exits within seconds instead of after the whole hook.
"""
from __future__ import annotations

import threading

_requested = threading.Event()  # an Event is safe to set from a signal handler and to poll from anywhere


class StopRequested(Exception):
    """Raised inside long work that gives up early because the process was asked to stop."""


def request_stop() -> None:
    """Mark that a stop was requested (called from the signal handler)."""
    _requested.set()


def clear_stop() -> None:
    """Forget an earlier request (a new training loop starts clean)."""
    _requested.clear()


def raise_if_stop_requested() -> None:
    """Raise :class:`StopRequested` when a stop was requested; call it between batches of long work."""
    if _requested.is_set():
        raise StopRequested("stop requested by a signal")
