"""An endless, resumable stream of batches over a prepared dataloader."""
from __future__ import annotations

from typing import Any, Iterator

from accelerate import skip_first_batches


class BatchStream:
    """Yields batches forever, epoch after epoch, remembering ``(epoch, index)``.

    The order of epoch ``e`` is a pure function of the data seed and ``e`` (Accelerate's seedable
    sampler), so restoring ``(epoch, index)`` after a restart continues with exactly the batch that
    would have come next: none repeated, none skipped.
    """

    def __init__(self, dataloader: Any) -> None:
        if len(dataloader) == 0:
            raise ValueError("the dataloader yields no batch: the dataset is smaller than one batch per process")
        self.dataloader = dataloader
        self.epoch, self.index = 0, 0
        self._it: Iterator | None = None

    def _start(self) -> None:
        self.dataloader.set_epoch(self.epoch)
        loader = skip_first_batches(self.dataloader, self.index) if self.index else self.dataloader
        self._it = iter(loader)

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> Any:
        if self._it is None:
            self._start()
        try:
            batch = next(self._it)  # type: ignore[arg-type]
        except StopIteration:
            self.epoch, self.index, self._it = self.epoch + 1, 0, None
            return next(self)
        self.index += 1
        return batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.index, self._it = int(state["epoch"]), int(state["index"]), None
