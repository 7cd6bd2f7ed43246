"""The one way to make images with a generator: seeds (and labels) in, float or uint8 images out, in batches.

Every picture and metric path goes through here: the training grids (:mod:`gan.generation.task`),
``sample.py`` and the hub card's grid (:mod:`gan.generation.sampling`, :mod:`gan.deploy.hub`), the
demo, the inputs of the export checks (:mod:`gan.deploy.source`) and the generated images of every
metric (:mod:`gan.evaluation.inputs`, ``class_accuracy``).

- **Latents**: one per seed, each from its own ``torch.Generator`` (:func:`latents_for_seeds`), so
  image *i* depends on its seed only, never on the batch size or on the other seeds.
- **Labels**: class indices ``(N,)`` aligned with the latents for a conditional generator, called as
  ``model(z, c)``; None calls ``model(z)``. Every caller passes them the same way, so none can forget
  them for a conditional model.
- **Images**: float in [-1, 1] as the generator makes them, or uint8 RGB (:func:`to_uint8_rgb`, what
  metrics and pictures read); on the CPU unless ``keep_on_device``.
- **Grids**: :data:`GRID_SEEDS`, :data:`GRID_CLASSES`, :data:`GRID_PER_CLASS` and :func:`grid_inputs`,
  the one set of grid defaults.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import torch
from torch import nn

GRID_SEEDS = 64  # an unconditional grid: seeds 0..63, 8 per row
GRID_CLASSES = 10  # a conditional grid without chosen labels shows the first classes, one row each ...
GRID_PER_CLASS = 8  # ... and seeds 0..7 as its columns: one latent per column, shared by every row
RGB = 3


def latents_for_seeds(seeds: Iterable[int], nz: int) -> torch.Tensor:
    """One latent per seed, each from its own generator: independent of batch size and order."""
    return torch.stack([torch.randn(nz, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


def cycled_labels(count: int, classes: int) -> torch.Tensor:
    """Labels of ``count`` images cycling through the classes: image i gets class ``i % classes``."""
    return torch.arange(count, dtype=torch.long) % classes


def grid_labels(classes: int) -> list[int]:
    """The rows of a conditional grid without chosen labels: the first (at most :data:`GRID_CLASSES`) classes."""
    return list(range(min(classes, GRID_CLASSES)))


def label_grid(labels: Sequence[int], seeds: Sequence[int], nz: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents and labels of every seed for every label, label-major: a grid with a row per label."""
    latents = latents_for_seeds(seeds, nz).repeat(len(labels), 1)
    return latents, torch.tensor(list(labels), dtype=torch.long).repeat_interleave(len(seeds))


def grid_inputs(nz: int, classes: int,
                count: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None, int | None]:
    """Latents, labels (None: unconditional) and row length (None: a square grid) of a generator's default grid.

    Unconditional: seeds ``0..count-1`` (:data:`GRID_SEEDS` when ``count`` is None). Conditional: one
    row per class of :func:`grid_labels`, the same seeds in every row: :data:`GRID_PER_CLASS` of them,
    or with ``count`` (a training run's ``log.num_samples``) ``count // rows`` between 1 and that.
    """
    if not classes:
        return latents_for_seeds(range(GRID_SEEDS if count is None else count), nz), None, None
    rows = grid_labels(classes)
    per_class = GRID_PER_CLASS if count is None else max(1, min(GRID_PER_CLASS, count // len(rows)))
    latents, labels = label_grid(rows, range(per_class), nz)
    return latents, labels, per_class


def to_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float images ``(N, C, H, W)`` -> uint8 in [0, 255] with 3 channels (grayscale repeated)."""
    out = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    if out.shape[1] == 1:
        out = out.repeat(1, RGB, 1, 1)
    if out.shape[1] != RGB:
        raise ValueError(f"images with {out.shape[1]} channels; expected 1 or 3")
    return out


@torch.no_grad()
def image_batches(model: nn.Module, latents: torch.Tensor, labels: torch.Tensor | None = None,
                  batch_size: int = 64, *, device: str | torch.device | None = None, uint8: bool = False,
                  keep_on_device: bool = False, progress: bool = False) -> Iterator[torch.Tensor]:
    """The images of ``latents`` (and ``labels``), ``batch_size`` at a time, each batch made when it is asked for.

    Args:
        model: the generator, called as ``model(z)`` or ``model(z, c)``.
        latents: ``(N, nz)``, e.g. from :func:`latents_for_seeds`.
        labels: class indices ``(N,)`` for a conditional generator; None for an unconditional one.
        batch_size: images per call of ``model``.
        device: where ``model`` computes (None: where its parameters are); inputs are moved there.
        uint8: uint8 RGB images (:func:`to_uint8_rgb`) instead of float ones in [-1, 1].
        keep_on_device: leave each batch on ``device`` instead of moving it to the CPU.
        progress: show a progress bar over the batches.
    """
    from tqdm.auto import tqdm

    if labels is not None and labels.shape != (latents.shape[0],):
        raise ValueError(f"labels of shape {tuple(labels.shape)} do not match {latents.shape[0]} latents")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    chunks = latents.split(batch_size)
    label_chunks = labels.long().split(batch_size) if labels is not None else [None] * len(chunks)
    for z, c in tqdm(list(zip(chunks, label_chunks)), desc="sample", disable=not progress):
        images = model(z.to(device)) if c is None else model(z.to(device), c.to(device))
        images = to_uint8_rgb(images) if uint8 else images.float()
        yield images if keep_on_device else images.cpu()


def generate(model: nn.Module, latents: torch.Tensor, batch_size: int = 64, progress: bool = False,
             labels: torch.Tensor | None = None, *, device: str | torch.device | None = None, uint8: bool = False,
             keep_on_device: bool = False) -> torch.Tensor:
    """All images of :func:`image_batches` (the same arguments) as one tensor."""
    batches = image_batches(model, latents, labels, batch_size, device=device, uint8=uint8,
                            keep_on_device=keep_on_device, progress=progress)
    return torch.cat(list(batches))
