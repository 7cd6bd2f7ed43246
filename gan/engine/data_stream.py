"""An endless, resumable stream of batches over a prepared dataloader."""
from __future__ import annotations

from typing import Any, Iterator

import torch
from accelerate import skip_first_batches

from ..errors import DataError
from ..process.workers import WORKER_ERRORS, one_line_worker_error, worker_iter


def keep_global_rng_untouched(dataloader: Any) -> None:
    """Give the loader its own generator for worker base seeds.

    Without one, every new iterator draws from the global torch RNG, and a resumed run creates an
    iterator where the straight run did not, so the global stream (used e.g. by the WGAN-GP
    interpolation) would drift after a resume. The data order is unaffected: the seedable sampler
    reseeds from ``data_seed + epoch``.
    """
    base = getattr(dataloader, "base_dataloader", dataloader)
    if getattr(base, "generator", False) is None:
        base.generator = torch.Generator().manual_seed(0)


class BatchStream:
    """Yields batches forever, epoch after epoch, remembering ``(epoch, index)``.

    The order of epoch ``e`` is a pure function of the data seed and ``e`` (Accelerate's seedable
    sampler), so restoring ``(epoch, index)`` after a restart continues with exactly the batch that
    would have come next: none repeated, none skipped.
    """

    def __init__(self, dataloader: Any) -> None:
        if len(dataloader) == 0:
            raise DataError(
                f"the dataset ({len(dataloader.dataset)} items) is smaller than one batch per process: "
                "lower train.batch_size or add data"
            )
        self.dataloader = dataloader
        keep_global_rng_untouched(dataloader)
        self.epoch, self.index = 0, 0
        self._it: Iterator | None = None

    def _start(self) -> None:
        self.dataloader.set_epoch(self.epoch)
        loader = skip_first_batches(self.dataloader, self.index) if self.index else self.dataloader
        self._it = worker_iter(loader)

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> Any:
        if self._it is None:
            self._start()
        try:
            batch = next(self._it)  # type: ignore[arg-type]
        except WORKER_ERRORS as err:
            clean = one_line_worker_error(err)
            if clean is err:
                raise
            raise clean from None
        except StopIteration:
            self.epoch, self.index, self._it = self.epoch + 1, 0, None
            return next(self)
        self.index += 1
        return batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.index, self._it = int(state["epoch"]), int(state["index"]), None
