"""One run per run directory: a lock file for the run's lifetime and no fresh run over an old one.

``claim_run_dir(cfg)`` is entered around the whole run, before anything is written into ``out_dir``.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any, Iterator

from ..errors import CheckpointError
from ..formats import CHECKPOINTS_DIR, METRICS_LOG, RUN_OUTPUTS
from ..locking import flock_path, pid_alive
from .distributed import launched_rank

LOCK_FILE = ".lock"
# What the toolkit writes into a run directory; overwrite=true removes these and nothing else.
PREVIOUS_RUN_MARKS = (CHECKPOINTS_DIR, METRICS_LOG)  # a directory holding one of these holds a run


class RunDirLocked(CheckpointError):
    """Another live run holds the run directory."""


def _read_lock(path: Path) -> dict[str, Any]:
    try:
        holder = json.loads(path.read_text())
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):  # vanished, or caught between creation and write
        return {}


# The open lock files of this process, by path: the flock lives as long as the file stays open.
_HELD: dict[Path, int] = {}


def _open_locked(path: Path) -> int | None:
    """An fd of ``path`` under an exclusive flock; None while another process holds it."""
    return flock_path(path, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _refuse(run_dir: Path, path: Path, holder: dict[str, Any]) -> RunDirLocked:
    pid, host = holder.get("pid"), holder.get("host")
    who = f"process {pid} on host {host}" if pid is not None else "another process"
    return RunDirLocked(
        f"run directory '{run_dir}' is in use by {who} (lock file '{path}'); "
        "wait for that run, use another out_dir, or delete the lock file if that run is gone"
    )


def acquire_lock(run_dir: Path) -> Path:
    """Take ``<run_dir>/.lock`` for this process's life (until :func:`release_lock`).

    The lock is an exclusive ``fcntl.flock`` on the file, which records this host and pid: exactly one
    of many simultaneous runs gets it, and the kernel drops it when its process dies, so the record of
    a dead run is reported and taken over. Without a flock, a record of a live process on this host
    is still respected (a run of a toolkit version before the flock, or a reused pid), and one of
    another host too (its filesystem may not share flocks between hosts): the message says to delete
    the file if that run is gone.
    """
    path = run_dir / LOCK_FILE
    fd = _open_locked(path)
    if fd is None:
        raise _refuse(run_dir, path, _read_lock(path))
    holder = _read_lock(path)
    host, pid, here = holder.get("host"), holder.get("pid"), socket.gethostname()
    if isinstance(pid, int) and (pid, host) != (os.getpid(), here):  # our own record: a restarted container's pid
        if host != here or pid_alive(pid):
            os.close(fd)
            raise _refuse(run_dir, path, holder)
        print(f"note: taking over the stale lock '{path}' of process {pid} on {host} (no longer running)")
    record = json.dumps({"host": here, "pid": os.getpid()}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, record, 0)
    os.fsync(fd)
    _HELD[path] = fd
    return path


def release_lock(path: Path) -> None:
    """Remove the lock if this process holds it (never another run's), then drop the flock."""
    fd = _HELD.pop(path, None)
    if fd is None:
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # while still locked: a waiting process then sees the file is gone and retries
    os.close(fd)


def _holds(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


def check_fresh_run(run_dir: Path, resume: str, overwrite: bool) -> None:
    """Refuse a fresh run into a directory holding another run; with ``overwrite`` delete that run's outputs."""
    if resume:  # overwrite together with resume is refused when the config is loaded
        return
    previous = [name for name in PREVIOUS_RUN_MARKS if _holds(run_dir / name)]
    if not previous:
        return
    if not overwrite:
        raise CheckpointError(
            f"'{run_dir}' already holds a run ({' and '.join(previous)}): continue it with resume=latest, "
            "choose a new out_dir, or set overwrite=true to delete its outputs"
        )
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    print(f"overwrite=true: removed the previous run's outputs from '{run_dir}'")


@contextlib.contextmanager
def claim_run_dir(cfg: Any) -> Iterator[None]:
    """Hold ``<out_dir>/.lock`` for the run and check it is not a fresh run over an old one.

    Only the main process (launcher rank 0) locks and checks; the lock is released when the block
    ends, also on errors and on the graceful exit after SIGTERM/SIGINT (a killed run leaves a stale
    lock, taken over by the next run on this host).
    """
    overwrite = bool(cfg.overwrite)
    # The recorded config (config.yaml, checkpoints) never carries the destructive flag: relaunching
    # from a run's own config.yaml must not delete it, and resuming must not see a changed key.
    cfg.overwrite = False
    if launched_rank() != 0:
        yield
        return
    run_dir = Path(cfg.out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = acquire_lock(run_dir)
    try:
        check_fresh_run(run_dir, cfg.resume, overwrite)
        yield
    finally:
        release_lock(lock)
