"""One run per run directory: a lock file for the run's lifetime and no fresh run over an old one.

``claim_run_dir(cfg)`` is entered around the whole run, before anything is written into ``out_dir``.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any, Iterator

from .checkpoint import CheckpointError
from .distributed import launched_rank
from .formats import CHECKPOINTS_DIR, METRICS_LOG, RUN_OUTPUTS

LOCK_FILE = ".lock"
# What the toolkit writes into a run directory; overwrite=true removes these and nothing else.
PREVIOUS_RUN_MARKS = (CHECKPOINTS_DIR, METRICS_LOG)  # a directory holding one of these holds a run


class RunDirLocked(CheckpointError):
    """Another live run holds the run directory."""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _create_lock(path: Path) -> bool:
    """Create ``path`` atomically with this process's host and pid; False when it already exists."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump({"host": socket.gethostname(), "pid": os.getpid()}, f)
        f.flush()
        os.fsync(f.fileno())
    return True


def _read_lock(path: Path) -> dict[str, Any]:
    try:
        holder = json.loads(path.read_text())
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):  # vanished, or caught between creation and write
        return {}


def acquire_lock(run_dir: Path) -> Path:
    """Take ``<run_dir>/.lock``; a stale lock (this host, process gone) is reported and taken over."""
    path = run_dir / LOCK_FILE
    if _create_lock(path):
        return path
    holder = _read_lock(path)
    host, pid = holder.get("host"), holder.get("pid")
    if host == socket.gethostname() and isinstance(pid, int) and not pid_alive(pid):
        print(f"note: taking over the stale lock '{path}' of process {pid} on {host} (no longer running)")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if _create_lock(path):
            return path
        holder = _read_lock(path)  # another run took it over first
        host, pid = holder.get("host"), holder.get("pid")
    raise RunDirLocked(
        f"run directory '{run_dir}' is in use by process {pid} on host {host} (lock file '{path}'); "
        "wait for that run, use another out_dir, or delete the lock file if that run is gone"
    )


def release_lock(path: Path) -> None:
    """Remove the lock if it is still ours (never another run's)."""
    holder = _read_lock(path)
    if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


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
