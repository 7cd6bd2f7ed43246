"""Training dataloaders: persistent workers that leave stopping to the main process."""
from __future__ import annotations

from typing import Any, Callable

from torch.utils.data import DataLoader, Dataset

from ..process.workers import ignore_stop_signals, load_first_item


def train_loader(dataset: Dataset, batch_size: int, num_workers: int, shuffle: bool = True, drop_last: bool = True,
                 collate_fn: Callable[[list[Any]], Any] | None = None) -> DataLoader:
    """A training DataLoader: persistent workers (when any) that ignore stop signals.

    ``collate_fn`` None is PyTorch's default.
    """
    load_first_item(dataset, num_workers)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, num_workers=num_workers,
        persistent_workers=num_workers > 0, worker_init_fn=ignore_stop_signals, collate_fn=collate_fn,
    )
