"""Training dataloaders whose workers leave stopping to the main process."""
from __future__ import annotations

import signal

from torch.utils.data import DataLoader, Dataset


def ignore_stop_signals(worker_id: int) -> None:
    """``worker_init_fn``: a dataloader worker ignores SIGTERM and SIGINT.

    A signal to the whole process group (``kill -TERM -- -PGID``, ``timeout``, a batch scheduler)
    also reaches the workers. PyTorch's worker SIGTERM handler would kill them, and the main process
    would then die with "DataLoader worker ... is killed by signal" before it can save. The main
    process owns shutdown: it saves at the next step boundary; the workers end when it closes the
    loader (or, should it die, when their parent watchdog notices). SIGINT is ignored too: forked
    workers otherwise run the main process's handler (or, when spawned, exit on KeyboardInterrupt).
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    try:  # a forked worker inherits the main process's signal wake-up pipe; it must not write to it
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass


def train_loader(dataset: Dataset, batch_size: int, num_workers: int, shuffle: bool = True, drop_last: bool = True) -> DataLoader:
    """A training DataLoader: persistent workers (when any) that ignore stop signals."""
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, num_workers=num_workers,
        persistent_workers=num_workers > 0, worker_init_fn=ignore_stop_signals,
    )
