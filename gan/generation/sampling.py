"""sample.py's helpers: loading an inference export, seeds, interpolation, image grids and streamed individual PNGs.

Images are made by :func:`gan.models.generate.generate` (the one sampling API) from
:func:`~gan.models.generate.latents_for_seeds`.
"""
from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import torch

from ..errors import OutputError
from ..formats import GENERATOR, find_export as find_export_of, load_export
from ..formats.resolve import resolve_source
from ..models import Generator
from ..models.generate import generate, latents_for_seeds
from .grid import grid_uint8, write_png


def parse_seeds(text: str) -> list[int]:
    """``"0-3,10"`` -> ``[0, 1, 2, 3, 10]``; negative seeds and reversed ranges raise ``ValueError``."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        try:
            first = int(lo)
            last = int(hi) if dash else first
        except ValueError:
            raise ValueError(f"--seeds {text!r}: expected non-negative integers or ranges like 0-63,100") from None
        if first < 0 or first > last:
            raise ValueError(f"--seeds {text!r}: '{part}' is not a non-negative seed or an increasing range like 0-63")
        seeds.extend(range(first, last + 1))
    if not seeds:
        raise ValueError(f"--seeds {text!r}: no seed given")
    return seeds


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between latents ``a`` and ``b`` (falls back to lerp when parallel)."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    if float(so.abs().min()) < 1e-6:
        return (1 - t) * a + t * b
    return torch.sin((1 - t) * omega) / so * a + torch.sin(t * omega) / so * b


def find_export(path: str | Path) -> Path:
    """The folder holding a generator export: an export, a checkpoint, or a run directory."""
    return find_export_of(path, GENERATOR)


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[Generator, dict]:
    """Build the EMA generator of an export/checkpoint/run/hub folder or Hub repo id; returns ``(model in eval mode, meta)``."""
    model, meta = load_export(resolve_source(path), GENERATOR, Generator, device=device)
    return model, meta  # type: ignore[return-value]


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """Save [-1, 1] images as one PNG grid (written atomically)."""
    return write_png(grid_uint8(images, nrow), path)


def save_individual(images: torch.Tensor, folder: str | Path, names: Sequence[str]) -> list[Path]:
    folder = Path(folder)
    return [write_png(grid_uint8(image[None], padding=0), folder / f"{name}.png") for image, name in zip(images, names)]


# Bytes one PNG may take beyond its RGB pixels: its chunks, zlib framing and row filters, and the
# filesystem block a small file rounds up to. With the uncompressed pixels it bounds a PNG's size.
PNG_OVERHEAD_BYTES = 4096


def png_bytes_estimate(resolution: int) -> int:
    """At most the disk space one sample PNG takes (written as RGB, uncompressed pixels: PNGs are smaller)."""
    return 3 * resolution * resolution + PNG_OVERHEAD_BYTES


def check_free_space(folder: str | Path, count: int, resolution: int) -> None:
    """Refuse (one-line :class:`gan.errors.OutputError`) ``count`` PNGs that may not fit on ``folder``'s filesystem.

    Checked before anything is written, so that a huge ``--num`` fails at once instead of filling the
    disk hours later. ``folder`` may not exist yet: its nearest existing parent is measured.
    """
    existing = Path(folder).absolute()
    while not existing.exists():
        existing = existing.parent
    free, needed = shutil.disk_usage(existing).free, count * png_bytes_estimate(resolution)
    if needed > free:
        raise OutputError(f"--out '{folder}': {count} images of {resolution}x{resolution} may take up to "
                          f"{needed / 2**30:.1f} GiB, "
                        f"but its filesystem has {free / 2**30:.1f} GiB free; ask for fewer images or free some space")


MAX_GRID_IMAGES = 10_000  # one grid PNG is built in memory: e.g. 100 x 100 tiles; --out streams any number


def check_grid_size(count: int) -> None:
    """Refuse (one-line :class:`gan.errors.OutputError`) a ``--grid`` of more than :data:`MAX_GRID_IMAGES` images,
    before any is made."""
    if count > MAX_GRID_IMAGES:
        raise OutputError(f"--grid: {count} images in one grid; expected at most {MAX_GRID_IMAGES} "
                          "(write more with --out, "
                        "which streams them)")


def _batches(items: Iterable[tuple[str, int, int | None]], size: int) -> Iterator[list[tuple[str, int, int | None]]]:
    """``items`` in consecutive lists of ``size`` (the last may be shorter), drawn one list at a time."""
    items = iter(items)
    while batch := list(itertools.islice(items, size)):
        yield batch


def write_individual(model: torch.nn.Module, items: Iterable[tuple[str, int, int | None]], total: int, nz: int,
                     folder: str | Path, batch_size: int = 64, progress: bool = False) -> int:
    """Generate and write one PNG per ``(file stem, seed, label or None)`` item; returns how many were written.

    Streamed: ``items`` is read one batch at a time, and only that batch's latents and images exist
    at once, so memory does not grow with the count. The batches are those :func:`generate` cuts
    from all the latents at once, so the files are the same. ``total`` sizes the progress bar.
    """
    from tqdm.auto import tqdm

    written = 0
    with tqdm(total=total, desc="sample", disable=not progress) as bar:
        for batch in _batches(items, batch_size):
            stems, seeds, labels = zip(*batch)
            classes = None if labels[0] is None else torch.tensor(labels, dtype=torch.long)
            save_individual(generate(model, latents_for_seeds(seeds, nz), batch_size, labels=classes), folder, stems)
            written += len(batch)
            bar.update(len(batch))
    return written


def interpolation_latents(seeds: Sequence[int], nz: int, steps: int) -> torch.Tensor:
    """Rows of ``steps`` slerp points between consecutive seeds (seed pairs (0,1), (1,2), ...)."""
    anchors = latents_for_seeds(seeds, nz)
    rows = [
        torch.stack([slerp(anchors[i], anchors[i + 1], t / (steps - 1)) for t in range(steps)])
        for i in range(len(seeds) - 1)
    ]
    return torch.cat(rows)


__all__ = ["MAX_GRID_IMAGES", "PNG_OVERHEAD_BYTES", "check_free_space", "check_grid_size", "generate", "interpolation_latents",
           "latents_for_seeds", "load_generator", "parse_seeds", "png_bytes_estimate", "save_grid", "save_individual", "slerp",
           "write_individual"]
