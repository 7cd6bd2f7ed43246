"""One best-export keeper for both jobs: ``<run>/best/`` holds the export with the best score so far.

After each evaluation the job offers its score (GAN: the lowest FID, else KID; segmentation: the
highest mIoU). A better one (NaN never is) replaces ``best/`` atomically: the export plus ``best.json``
naming the metric, value and step. Training runs often peak and then collapse; ``best/`` keeps the peak.

The keeper is one of the task's stateful objects (:mod:`.state`), so its record is in every checkpoint
and a resumed run compares against the best of its own history, exactly as the straight run would: a
rewind to an older checkpoint compares against that checkpoint's record, not against the ``best/`` of
the abandoned history (which the rewind sets aside, :mod:`.history`). A checkpoint from before the
keeper falls back to the ``best.json`` found in ``best/``. A fresh run never compares with an older run's.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import torch

from ..formats import BEST_DIR, BEST_JSON, replace_folder, write_json_atomic
from .state import Stateful, Tensors

KEY = "best"  # prefix of the keeper's checkpoint tensors


def read_best(run_dir: Path) -> dict[str, Any] | None:
    """``<run_dir>/best/best.json``, or None when there is none (or it is unreadable)."""
    path = Path(run_dir) / BEST_DIR / BEST_JSON
    try:
        record = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


class BestKeeper(Stateful):
    """Keeps ``<run_dir>/best/``; ``higher_is_better`` for scores such as mIoU, else lower wins (FID)."""

    def __init__(self, run_dir: str | Path, higher_is_better: bool) -> None:
        self.run_dir, self.higher_is_better = Path(run_dir), higher_is_better
        self.record: dict[str, Any] | None = None  # {"metric", "value", "step", ...}: what best/ holds
        # Set by the resume of a checkpoint from before the keeper: best.json is read at the first use, once the
        # trainer has finished the run's history (a rewind sets an abandoned best/ aside first).
        self._restore: Callable[[], dict[str, Any] | None] | None = None

    def _current(self) -> dict[str, Any] | None:
        if self._restore is not None:
            self.record, self._restore = self._restore(), None
        return self.record

    def is_better(self, metric: str, value: float) -> bool:
        """Whether ``value`` of ``metric`` would replace ``best/`` (another metric than the record's always does)."""
        if math.isnan(value):
            return False
        record = self._current()
        if record is None or record["metric"] != metric:
            return True
        return value > record["value"] if self.higher_is_better else value < record["value"]

    def offer(self, step: int, metric: str, value: float, write: Callable[[Path], None], **extra: Any) -> bool:
        """Keep the export ``write(folder)`` writes when ``value`` is the best so far; True when it was kept.

        ``extra`` goes into ``best.json`` beside the metric, value and step.
        """
        if not self.is_better(metric, value):
            return False
        record = {"metric": metric, "value": value, "step": step, **extra}

        def fill(folder: Path) -> None:
            write(folder)
            write_json_atomic(folder / BEST_JSON, record)

        replace_folder(self.run_dir / BEST_DIR, fill)
        self.record = record
        return True

    # ---- checkpoint state --------------------------------------------------------------------

    def state_tensors(self) -> Tensors:
        record = self._current()
        if record is None:
            return {f"{KEY}.step": torch.tensor([-1], dtype=torch.int64)}
        return {f"{KEY}.step": torch.tensor([record["step"]], dtype=torch.int64),
                f"{KEY}.value": torch.tensor([record["value"]], dtype=torch.float64),
                f"{KEY}.metric": torch.tensor(list(record["metric"].encode()), dtype=torch.uint8)}

    def load_state_tensors(self, tensors: Tensors) -> None:
        if f"{KEY}.step" not in tensors:  # a checkpoint from before the keeper
            self._restore = lambda: read_best(self.run_dir)
            return
        step, self._restore = int(tensors[f"{KEY}.step"][0]), None
        self.record = None if step < 0 else {
            "metric": bytes(tensors[f"{KEY}.metric"].tolist()).decode(), "value": float(tensors[f"{KEY}.value"][0]),
            "step": step,
        }
