"""Training batches indexed straight from a decoded uint8 cache, on the training device when it fits.

The DataLoader of a cached dataset loads only indices: Accelerate's seedable sampler, per-rank
sharding and ``skip_first_batches`` (exact resume) see the same dataset length and so pick exactly
the indices they picked before. :class:`IndexedBatches` is the loader's ``collate_fn``: it turns a
list of indices into the batch with one gather, instead of one ``__getitem__`` per image and a
stack. Its values are those of :class:`gan.data.cache.DecodedDataset` items collated (same uint8
source, same :func:`to_unit_range` operations), bit for bit.

Where the images live (:func:`fits_on_device`): on a CUDA device when their bytes are at most
:data:`DEVICE_FRACTION` of its free memory (copied there once; a batch is then indexed there), else
where they already are (RAM, or a memory-mapped disk cache that stays memory-mapped). Unreadable
images were left out when the cache was built (and reported then), so there is nothing to report here.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .cache import DecodedDataset, to_unit_range
from .loaders import train_loader

DEVICE_FRACTION = 0.25  # the rest of the free device memory is for the models, activations and optimizer states
COPY_CHUNK = 4096  # images per host -> device copy: a memory-mapped cache is never read whole into RAM


def fits_on_device(nbytes: int, free_bytes: int | None, fraction: float = DEVICE_FRACTION) -> bool:
    """Whether ``nbytes`` of images go to the device: ``free_bytes`` is its free memory (None: not a GPU)."""
    return free_bytes is not None and nbytes <= fraction * free_bytes


def free_device_bytes(device: torch.device) -> int | None:
    """Free memory of a CUDA ``device``; None for any other device (the images then stay on the host)."""
    if device.type != "cuda":
        return None
    return int(torch.cuda.mem_get_info(device)[0])


def device_copy(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """``images`` (uint8, possibly memory-mapped) as one tensor on ``device``, copied in chunks."""
    out = torch.empty(images.shape, dtype=torch.uint8, device=device)
    for start in range(0, len(images), COPY_CHUNK):
        out[start:start + COPY_CHUNK].copy_(torch.from_numpy(np.array(images[start:start + COPY_CHUNK])))
    return out


class IndexedBatches:
    """``collate_fn`` of a loader over indices: a list of indices -> images in [-1, 1] (+ int64 labels).

    Args:
        dataset: the decoded cache.
        device: the training device.
        on_device: keep the images as a tensor on ``device`` (None: when :func:`fits_on_device`);
            False leaves them where ``dataset`` holds them.
    """

    def __init__(self, dataset: DecodedDataset, device: torch.device | str, on_device: bool | None = None) -> None:
        self.device = torch.device(device)
        images, labels = dataset.images, dataset.labels
        if on_device is None:
            on_device = fits_on_device(images.nbytes, free_device_bytes(self.device))
        self.on_device = on_device
        self.images: np.ndarray | torch.Tensor = device_copy(images, self.device) if on_device else images
        self.labels: np.ndarray | torch.Tensor | None = labels
        if on_device and labels is not None:
            self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(self.device)
        self.indices: Sequence[int] = range(len(images))  # the loader's dataset: item i is i

    def __call__(self, indices: list[int]) -> Any:
        if self.on_device:
            index = torch.tensor(indices, dtype=torch.int64, device=self.device)
            images = self.images.index_select(0, index)  # type: ignore[union-attr]
            labels = None if self.labels is None else self.labels.index_select(0, index)  # type: ignore[union-attr]
        else:  # numpy gathers copy only the batch out of RAM or the memory map
            images = torch.from_numpy(np.take(self.images, indices, axis=0))
            labels = None if self.labels is None else torch.from_numpy(np.take(self.labels, indices).astype(np.int64))
        batch = to_unit_range(images)
        return batch if labels is None else (batch, labels)


def gan_train_loader(dataset: Dataset, batch_size: int, num_workers: int, device: torch.device) -> DataLoader:
    """The GAN task's training loader: indexed batches for a decoded cache, else :func:`train_loader`'s items.

    A cached dataset needs no workers (nothing is decoded per step); the others keep ``num_workers``.
    """
    if isinstance(dataset, DecodedDataset):
        batches = IndexedBatches(dataset, device)
        return train_loader(batches.indices, batch_size, 0, collate_fn=batches)  # type: ignore[arg-type]
    return train_loader(dataset, batch_size, num_workers)
