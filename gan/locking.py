"""``flock`` on a lock file that may be unlinked by its holder, and whether a recorded holder still lives
(shared by run-directory and cache locks)."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path


def flock_path(path: Path, operation: int, flags: int = os.O_RDWR, mode: int = 0o644) -> int | None:
    """An fd of ``path`` (created if missing) under ``flock(operation)``; None when a non-blocking lock is refused.

    A holder may unlink the file while holding its lock (releasing a run lock, evicting a cache), so a
    process that opened it just before can win the lock on a file no longer at ``path``: it checks
    the path still names its file, else locks the file now there.
    """
    while True:
        fd = os.open(path, flags | os.O_CREAT, mode)
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
