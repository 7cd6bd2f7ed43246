"""Which disk caches are in use: a shared ``flock`` per cache held by every process that uses it.

Each cache ``<id>-<digest>.*`` has a lock file ``<id>-<digest>.lock``. A process building or mapping
the cache holds a shared lock on it from before it looks for the cache until its dataset is closed
(dataloader workers take their own, or share their parent's). A cache of the same dataset with other
contents is deleted only under an exclusive non-blocking lock, i.e. when no live process holds it:
otherwise it stays, for a later build to delete. The kernel drops a process's locks when it dies,
so a crashed run leaves nothing that blocks eviction.

A lock file is unlinked by the process that evicts its cache while it still holds it, so a process
that opened it just before may lock a file no longer there: :func:`_lock_current` checks that the
path still names the file it locked, else takes the new one.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from ..locking import flock_path

LOCK_SUFFIX = ".lock"


def lock_path(meta: Path) -> Path:
    """The lock file of the cache whose metadata is ``meta`` (``<id>-<digest>.json``)."""
    return meta.with_suffix(LOCK_SUFFIX)


def _lock_current(path: Path, operation: int) -> int | None:
    """An fd of ``path`` under ``flock(operation)``, or None (see :func:`gan.locking.flock_path`)."""
    # Read-only is enough for flock, and lets another user's run lock a file of a shared cache folder.
    return flock_path(path, operation, os.O_RDONLY, 0o666)


class CacheHold:
    """A shared lock on a cache for as long as this object lives (or until :meth:`close`).

    Without a lock file (a read-only cache folder, where this process could not create one) it holds
    nothing: the cache is then only read.
    """

    def __init__(self, meta: Path) -> None:
        try:
            self.fd: int | None = _lock_current(lock_path(meta), fcntl.LOCK_SH)
        except OSError:
            self.fd = None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __del__(self) -> None:
        self.close()


def evict_other_contents(meta: Path) -> list[str]:
    """Delete the caches of ``meta``'s dataset id with other contents that no live process holds.

    Returns the names of the caches (``<id>-<digest>``) deleted; one in use is left in place.
    """
    folder, stem = meta.parent, meta.stem
    others = {f.name.split(".")[0] for f in folder.glob(stem.split("-")[0] + "-*")} - {stem}
    evicted = []
    for other in sorted(others):
        lock = folder / (other + LOCK_SUFFIX)
        try:
            fd = _lock_current(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # cannot create its lock file: leave it
            continue
        if fd is None:
            continue  # a live process maps or builds it
        try:
            for f in folder.glob(other + ".*"):  # listed again under the lock: all of that cache's files
                if f != lock:
                    f.unlink(missing_ok=True)
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
        finally:
            os.close(fd)
        evicted.append(other)
    return evicted
