"""Atomic writers: a reader (or a crash) sees the old file or folder or the complete new one, never a mix.

Files are written to a temporary sibling, flushed and renamed; a folder is filled beside its
destination and swapped in (:func:`replace_folder`). A failed write (a full disk, no permission)
is one :class:`WriteError` line naming the file and the free space.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Collection

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

from ..errors import UserError, first_line

WRITE_ERRORS = (OSError, SafetensorError)  # what a failed write raises (safetensors wraps the OS error in its own type)
# safetensors' message: "Error while serializing: I/O error: No space left on device (os error 28)[ at path ...]"
_SAFETENSORS_IO = re.compile(r"I/O error: (.*?)(?: at path .*)?$")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON by temp file + fsync + rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class WriteError(UserError):
    """A file that could not be written (a full disk, no permission): one line naming it and the free space."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"cannot write '{path}': {reason} ({free_mib(self.path):.0f} MiB free on that disk)")


def free_mib(path: Path) -> float:
    """Free space, in MiB, of the disk holding ``path`` (or its nearest existing parent)."""
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    return shutil.disk_usage(existing).free / 2**20


def write_failure(err: BaseException) -> str:
    """Why a write failed, in one line: the OS error inside safetensors' message, else the error's first line."""
    if isinstance(err, WriteError):
        return err.reason
    text = first_line(err)
    found = _SAFETENSORS_IO.search(text) if isinstance(err, SafetensorError) else None
    return found.group(1) if found else text


def save_safetensors_atomic(tensors: dict[str, torch.Tensor], path: Path,
                            metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` to ``path`` by temp file + fsync + rename: ``path`` is the old file or the complete new one.

    A failed write (e.g. a full disk) removes the temp file and raises :class:`WriteError` (one line).
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
        with open(tmp, "rb") as f:  # a full disk can first show at the flush; never rename unflushed data into place
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):  # no partial file is left behind, whatever stopped the write
            tmp.unlink(missing_ok=True)
        if isinstance(err, WRITE_ERRORS):
            raise WriteError(path, write_failure(err)) from None
        raise


def _link_entry(src: str | Path, dst: str | Path) -> None:
    """Put ``src`` at ``dst`` without copying data or touching ``src``: hard links (a copy where links fail)."""
    src, dst = Path(src), Path(dst)
    if src.is_symlink() or not src.is_dir():
        try:
            os.link(src, dst, follow_symlinks=False)
        except OSError:
            shutil.copy2(src, dst, follow_symlinks=False)
    else:
        shutil.copytree(src, dst, symlinks=True, copy_function=_link_entry)


def replace_folder(dest: str | Path, fill: Callable[[Path], None], replaced: Collection[str] | None = None) -> Path:
    """Fill a temporary sibling of ``dest``, then swap it in by rename: a failure or a crash leaves the old
    folder or the new one, never a mix; returns ``dest``.

    ``fill(tmp)`` writes (and verifies) everything; if it raises, ``tmp`` is removed and ``dest`` is as it
    was. ``replaced``: the entry names ``fill`` owns; the old folder's other entries are carried into the
    new one as hard links (so they stay byte-identical and nothing is copied). None: the whole folder is
    replaced. The writers above replace files by rename, so a carried link is never written through.
    """
    dest = Path(dest).resolve()  # "." or "out/" must have a name; a symlinked folder is swapped where it lies
    tmp, old = dest.with_name(f".tmp-{dest.name}"), dest.with_name(f".old-{dest.name}")
    for stale in (tmp, old):
        shutil.rmtree(stale, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        if replaced is not None and dest.is_dir():
            for entry in dest.iterdir():
                if entry.name not in replaced:
                    _link_entry(entry, tmp / entry.name)
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest
