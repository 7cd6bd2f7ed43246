"""Seeded subsets of a dataset, one mechanism for every job: ``data.limit`` (GAN training on N images),
``data.label_fraction`` (segmentation on a fraction of the labelled images) and ``eval.num_real`` (the
real images an evaluation compares against).

The chosen items depend only on the dataset's size, the count and the seed (the first ``count`` of a
seeded CPU ``torch.Generator`` permutation, sorted), so every process and every later run picks the
same items, kept in the dataset's order. ``data.limit``'s subset is taken before the decoded-image
cache, whose key has ``data.limit`` and ``data.limit_seed`` (and an image folder's limited file list),
so a run with another limit never reads a cache built for different images.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch.utils.data import Dataset, Subset

from ..config import DataConfig
from ..errors import DataError


def seeded_indices(size: int, count: int, seed: int) -> list[int]:
    """Sorted indices of ``count`` of ``size`` items drawn with ``seed``."""
    return sorted(torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:count].tolist())


class SeededSubset(Subset):
    """The items of ``dataset`` at ``indices``, with its ``label_names``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        super().__init__(dataset, indices)
        self.label_names = list(getattr(dataset, "label_names", []))


def seeded_subset(dataset: Dataset, count: int, seed: int) -> Dataset:
    """``count`` items of ``dataset`` chosen with ``seed``.

    ``dataset`` itself when ``count`` is 0 or not below its size.
    """
    total = len(dataset)  # type: ignore[arg-type]
    if count <= 0 or count >= total:
        return dataset
    return SeededSubset(dataset, seeded_indices(total, count, seed))


def limit_indices(size: int, limit: int, seed: int) -> list[int]:
    """``data.limit``: sorted indices of ``limit`` of ``size`` items drawn with ``seed``; all for ``limit`` 0."""
    if limit > size:
        raise DataError(f"data.limit={limit} is larger than the dataset ({size} images): "
                        f"set data.limit to at most {size}, or 0 for all")
    return list(range(size)) if limit == 0 else seeded_indices(size, limit, seed)


def limit_dataset(cfg: DataConfig, base: Dataset) -> Dataset:
    """``base`` itself without ``data.limit``, else its seeded subset."""
    if cfg.limit == 0:
        return base
    return SeededSubset(base, limit_indices(len(base), cfg.limit, cfg.limit_seed))  # type: ignore[arg-type]
