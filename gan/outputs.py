"""Where command-line tools may write: checked before anything is written.

``predict_seg.py`` and ``sample.py`` write many files into a folder named by the user. A typo such
as giving the input folder twice must not overwrite inputs, so the planned outputs are checked
first (paths compared after resolving ``..`` and symlinks):

- the output folder, or an output file, must not be an existing path of the wrong kind;
- it must not be, or lie inside, a protected folder (the images being read, the model being sampled);
- no planned output may be one of the input files;
- two inputs must not write the same output file (``a.png`` and ``a.jpg`` -> ``a.png``);
- a folder that is replaced as a whole (``export.py --out``) must not contain what is read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .errors import OutputError


def _inside(path: Path, folder: Path) -> bool:
    """True when resolved ``path`` is ``folder`` or lies below it."""
    return path == folder or folder in path.parents


def _check_protected(path: Path, protect: Iterable[str | Path], what: str) -> None:
    resolved = path.resolve()
    for folder in protect:
        if _inside(resolved, Path(folder).resolve()):
            raise OutputError(f"{what} '{path}' is inside '{folder}', which is read from; choose a path outside it")


def check_output_file(path: str | Path, protect: Iterable[str | Path] = (), what: str = "output file") -> None:
    """Refuse an output file that is an existing folder or lies inside a ``protect`` folder."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{what} '{path}' is a folder; expected a file name such as grid.png")
    _check_protected(path, protect, what)


def check_output_folder(
    out: str | Path,
    planned: Iterable[tuple[Path, Path]] = (),
    inputs: Iterable[Path] = (),
    protect: Iterable[str | Path] = (),
    what: str = "output folder",
) -> None:
    """Refuse to write ``planned`` ``(source, output file)`` pairs into ``out``.

    Raises :class:`OutputError` (one line) when ``out`` exists and is not a folder, ``out`` is or lies
    inside one of the ``protect`` folders, an output would overwrite one of ``inputs``, or two
    sources would write the same output (both sources are named).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{what} '{out}' exists and is not a folder")
    _check_protected(out, protect, what)
    existing = {Path(p).resolve(): Path(p) for p in inputs}
    writers: dict[Path, Path] = {}
    for source, target in planned:
        resolved = target.resolve()
        if resolved in existing:
            raise OutputError(f"writing '{target}' would overwrite the input '{existing[resolved]}'; "
                              f"choose another {what}")
        if resolved in writers:
            raise OutputError(f"'{writers[resolved]}' and '{source}' would both be written to '{target}'; "
                              "rename one of them")
        writers[resolved] = source


def check_replaced_folder(out: str | Path, inputs: Iterable[str | Path], what: str = "output folder") -> None:
    """Refuse a folder that is written beside and swapped in as a whole when it contains one of ``inputs``.

    (The swap would move a run, with its checkpoints, into a new folder of links: not what ``--out runs`` means.)
    """
    resolved = Path(out).resolve()
    for path in inputs:
        if resolved in Path(path).resolve().parents:
            raise OutputError(f"{what} '{out}' contains '{path}', which is read from; it is replaced as a whole: "
                              "choose a folder outside it")
