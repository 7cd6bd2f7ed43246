"""Stop signals of a training process: the first one saves at a step boundary, a repeat exits at once.

:class:`PreemptionGuard` turns SIGTERM/SIGINT into a flag the trainer checks between steps (and into
the process-wide stop request of :mod:`.stop`, which long hooks poll).

:class:`RepeatSignalExit` ends the process at a repeated signal, even while the main thread waits in C
code: Python runs signal handlers only when the main thread is back in the interpreter, and a rank
blocked in a collective (its peer stalled) would not react at all. The C-level handler still writes
every signal number to the wake-up fd (``signal.set_wakeup_fd``), which a daemon thread reads here.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any, Callable

import torch
from accelerate import Accelerator

from .stop import clear_stop, request_stop

# A repeat within this many seconds counts as the same request: launchers forward a signal sent to
# the whole process group (torchrun, accelerate launch), so each rank gets it twice at once.
REPEAT_AFTER_S = 2.0


class RepeatSignalExit:
    """While active, the second of ``exit_codes``' signals (``REPEAT_AFTER_S`` after the first) calls ``os._exit``.

    ``on_first(signum)`` is called (in the watcher thread) for the first one.
    """

    def __init__(self, exit_codes: dict[int, int], on_first: Callable[[int], None] | None = None) -> None:
        self.exit_codes, self.on_first = exit_codes, on_first
        self.first_at: float | None = None
        self._fds: tuple[int, int] | None = None
        self._previous_fd = -1

    def start(self) -> bool:
        """Watch the signals; False (nothing done) outside the main thread."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)  # set_wakeup_fd requires it; a full pipe drops bytes, never blocks
        try:
            self._previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        except ValueError:  # not the main thread
            os.close(read_fd), os.close(write_fd)
            return False
        self._fds = (read_fd, write_fd)
        threading.Thread(target=self._watch, args=(read_fd,), name="repeat-signal-exit", daemon=True).start()
        return True

    def stop(self) -> None:
        if self._fds is None:
            return
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._fds[1])  # the watcher reads EOF, closes its end and ends
        self._fds = None

    def _watch(self, read_fd: int) -> None:
        try:
            while chunk := os.read(read_fd, 64):
                for signum in chunk:
                    if signum in self.exit_codes:
                        self._seen(signum)
        finally:
            os.close(read_fd)

    def _seen(self, signum: int) -> None:
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = now
            if self.on_first is not None:
                self.on_first(signum)
        elif now - self.first_at >= REPEAT_AFTER_S:
            name = signal.Signals(signum).name
            # os.write, not print: the main thread may hold the stdout lock while it is blocked.
            line = f"\nsecond {name}: exiting at once without saving; the last complete checkpoint is kept\n"
            os.write(2, line.encode())
            os._exit(self.exit_codes[signum])


def announce_first_signal(signum: int) -> None:
    """Say what the first stop signal does and how to stop at once."""
    name = signal.Signals(signum).name
    line = (f"\n{name}: saving a checkpoint at the next step boundary; send it again (after {REPEAT_AFTER_S:g} s) "
            "to exit at once without saving\n")
    os.write(2, line.encode())


class PreemptionGuard:
    """Turns SIGTERM/SIGINT into a flag checked at step boundaries (a checkpoint is saved there)."""

    EXIT_CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        # A second signal exits at once without saving (also while blocked in a collective).
        self._repeat = RepeatSignalExit(self.EXIT_CODES, announce_first_signal)

    def __enter__(self) -> "PreemptionGuard":
        clear_stop()
        for sig in self.EXIT_CODES:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        if self._previous:
            self._repeat.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._repeat.stop()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        clear_stop()  # the request belonged to this loop; later work in the process must not see it

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum
        request_stop()  # long hooks (evaluation) poll this between batches and stop early

    def requested(self, accelerator: Accelerator) -> bool:
        """True on every process as soon as any process got a signal."""
        flag = torch.tensor([1.0 if self.signum is not None else 0.0], device=accelerator.device)
        if accelerator.num_processes > 1:
            flag = accelerator.reduce(flag, reduction="sum")
        return bool(flag.item() > 0)

    @property
    def exit_code(self) -> int:
        return self.EXIT_CODES.get(self.signum, 143)  # type: ignore[arg-type]
