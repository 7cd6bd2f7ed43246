"""``data.limit``: train on a seeded subset of N images of a dataset (small-data experiments).

The subset depends only on the dataset's size, ``data.limit`` and ``data.limit_seed`` (a CPU
``torch.Generator``), so every process and every later run picks the same images. It is taken
before the decoded-image cache, whose key has ``data.limit`` and ``data.limit_seed`` (and an image
folder's limited file list), so a run with another limit never reads a cache built for different
images. The subset keeps the dataset's order and its ``label_names``.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from ..config import DataConfig
from ..errors import DataError


def limit_indices(size: int, limit: int, seed: int) -> list[int]:
    """Sorted indices of ``limit`` of ``size`` items drawn with ``seed``; all of them for ``limit`` 0."""
    if limit > size:
        raise DataError(f"data.limit={limit} is larger than the dataset ({size} images): set data.limit to at most {size}, or 0 for all")
    if limit == 0:
        return list(range(size))
    return sorted(torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:limit].tolist())


class LimitedDataset(Dataset):
    """The items of ``base`` at ``indices``, with ``base``'s ``label_names``."""

    def __init__(self, base: Dataset, indices: list[int]) -> None:
        self.base, self.indices = base, indices
        self.label_names = list(getattr(base, "label_names", []))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.base[self.indices[index]]


def limit_dataset(cfg: DataConfig, base: Dataset) -> Dataset:
    """``base`` itself without ``data.limit``, else its seeded subset."""
    if cfg.limit == 0:
        return base
    return LimitedDataset(base, limit_indices(len(base), cfg.limit, cfg.limit_seed))  # type: ignore[arg-type]


