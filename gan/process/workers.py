"""Dataloader worker processes: they leave stopping to the main process, and their errors become one line.

Workers are forked with SIGTERM blocked (:func:`worker_iter`) and ignore stop signals not sent by
their main process (:func:`ignore_stop_signals`, their ``worker_init_fn``); a dataset error raised in
a worker reaches the user as the worker's one line (:func:`one_line_worker_error`).
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from typing import Any, Iterable, Iterator

from torch.utils.data import Dataset


def ignore_stop_signals(worker_id: int) -> None:
    """``worker_init_fn``: a dataloader worker ignores SIGINT and any SIGTERM not sent by its main process.

    A signal to the whole process group (``kill -TERM -- -PGID``, ``timeout``, Ctrl-C) or to every
    process of a job (a batch scheduler) also reaches the workers. PyTorch's worker SIGTERM handler
    would kill them, and the main process would then die with "DataLoader worker ... is killed by
    signal" before it can save. The main process owns shutdown: it saves at the next step boundary
    and the workers end when it closes the loader. Its own SIGTERM (``multiprocessing``'s terminate
    at interpreter exit) still ends a worker at once: ignoring that one would hang the exit.
    SIGINT is ignored too: forked workers otherwise run the main process's handler.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Blocked here, SIGTERM waits for the thread below, which sees who sent it (a handler cannot).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    parent = multiprocessing.parent_process()
    main_pid = parent.pid if parent is not None and parent.pid else os.getppid()
    threading.Thread(target=_exit_on_sigterm_from, args=(main_pid,), name="worker-sigterm", daemon=True).start()
    try:  # a forked worker inherits the main process's signal wake-up pipe; it must not write to it
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass


def _exit_on_sigterm_from(main_pid: int) -> None:
    while True:
        if signal.sigwaitinfo({signal.SIGTERM}).si_pid == main_pid:
            os._exit(0)  # what PyTorch's own worker handler does when the main process terminates it


WORKER_ERRORS = (ValueError, RuntimeError, OSError)  # types a dataset raises for bad input (DataError is a ValueError)
WORKER_MARK = "in DataLoader worker process"


def one_line_worker_error(err: Exception) -> Exception:
    """PyTorch re-raises a worker's exception with the worker's traceback as its message; keep the last line.

    ``Caught DataError in DataLoader worker process 0. ... DataError: cannot read 'x.png'`` becomes
    ``DataError("cannot read 'x.png'")``; exceptions not from a worker are returned unchanged.
    """
    text = str(err)
    if WORKER_MARK not in text:
        return err
    last = [line for line in text.splitlines() if line.strip()][-1]
    name = type(err).__name__
    message = last.split(f"{name}: ", 1)[1] if f"{name}: " in last else last
    try:
        return type(err)(message)
    except Exception:
        return err


@contextlib.contextmanager
def _sigterm_blocked() -> Iterator[None]:
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a SIGTERM that came meanwhile is delivered now


def worker_iter(loader: Iterable[Any]) -> Iterator[Any]:
    """Iterate ``loader`` with its dataloader workers forked while SIGTERM is blocked.

    A worker inherits the blocked signal, and so does every thread it starts, even those PyTorch
    and OpenMP start before :func:`ignore_stop_signals` runs: a group SIGTERM then always reaches
    the worker's watcher thread instead of killing the worker. Workers fork on the first item
    (Accelerate's loaders start lazily), so that is the step done with the signal blocked.
    """
    it = iter(loader)
    with _sigterm_blocked():
        first = next(it, _END)
    if first is _END:
        return
    yield first
    yield from it


_END = object()


def load_first_item(dataset: Dataset, num_workers: int) -> None:
    """Load one item in this process before ``num_workers`` dataloader workers fork from it.

    Datasets build their decoders lazily (a run on an existing decoded-data cache never imports
    torchvision). A worker that imports such a module after W&B has started runs W&B's import hooks
    in a forked process, where they raise (wandb's ForkedError). With one item loaded here first,
    the workers inherit every module an item needs.
    """
    if num_workers > 0 and len(dataset) > 0:  # type: ignore[arg-type]
        try:
            dataset[0]
        except Exception:  # noqa: BLE001 - a bad first item is the workers' to report, as any other
            pass
