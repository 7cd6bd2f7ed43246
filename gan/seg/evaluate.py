"""Validation during training: a sharded pass, one confusion matrix summed across processes, then
metrics, ``eval.jsonl``, an overlay PNG, tracker logs and the ``best`` export (main process).

Whole frames are scored (no crop); with native masks (``eval.native_size``) the logits are upsampled
to each mask's own size first."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..engine.stats import append_jsonl, plot_curves, read_jsonl
from ..engine.tracking import SafeLogger
from ..formats import OVERLAYS_DIR, SEG_EVAL_LOG, SEG_EVAL_PLOT
from ..process.workers import worker_iter
from .frames import frame_confusion, overlay_samples
from .metrics import SegMetrics, metrics_from_confusion
from .overlay import save_overlay


@torch.no_grad()
def confusion_over(model: nn.Module, batches: Iterable, num_classes: int, ignore_index: int) -> torch.Tensor:
    """Summed confusion matrix of ``model`` over ``batches`` of (images, masks as a tensor or a list)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    for images, masks in batches:
        masks = masks.to(device) if isinstance(masks, torch.Tensor) else [m.to(device) for m in masks]
        total += frame_confusion(model(images.to(device)), masks, num_classes, ignore_index)
    model.train(was_training)
    return total


class SegValidation:
    """The segmentation job's validation hook; run it on every process (``Hook(..., all_processes=True)``).

    Args:
        accelerator: the run's accelerator (confusion matrices are summed over its processes).
        logger: logs the overlay picture.
        run_dir: where ``eval.jsonl``, its plot and ``overlays/`` go.
        model: the prepared model; each process scores ``loader``, its shard of the validation set.
        raw: the unwrapped model, which draws the overlay of the first ``overlay_images`` of ``val``.
        loader: this process's validation batches.
        val: the whole validation set.
        class_names: the classes (their count sizes the confusion matrix).
        ignore_index: the mask value that is not scored.
        overlay_images: images in the overlay picture (0: none).
        keep_best: ``keep_best(step, miou, record)`` keeps the export when the score is the best so far.
    """

    def __init__(self, accelerator: Accelerator, logger: SafeLogger, run_dir: Path, model: nn.Module, raw: nn.Module,
                 loader: DataLoader, val: Dataset, class_names: Sequence[str], ignore_index: int, overlay_images: int,
                 keep_best: Callable[[int, float, dict[str, Any]], Any]) -> None:
        self.acc, self.logger, self.run_dir = accelerator, logger, Path(run_dir)
        self.model, self.raw, self.loader, self.val = model, raw, loader, val
        self.class_names, self.ignore_index, self.overlay_images = list(class_names), ignore_index, overlay_images
        self.keep_best = keep_best
        self.log_path = self.run_dir / SEG_EVAL_LOG

    def __call__(self, step: int) -> dict[str, float] | None:
        confusion = confusion_over(self.model, worker_iter(self.loader), len(self.class_names), self.ignore_index)
        if self.acc.num_processes > 1:
            confusion = self.acc.reduce(confusion, reduction="sum")
        if not self.acc.is_main_process:
            return None
        metrics = metrics_from_confusion(confusion.cpu())
        tqdm.write(f"eval step {step}: {metrics.summary(self.class_names)}")
        self.record(step, metrics)
        samples = overlay_samples(self.raw, self.val, self.overlay_images)
        if samples is not None:
            self.overlay(step, metrics, samples)
        self.keep_best(step, metrics.miou, self.as_record(step, metrics))
        return metrics.as_log(self.class_names)

    @staticmethod
    def as_record(step: int, m: SegMetrics) -> dict:
        return {"step": step, "miou": m.miou, "iou": m.iou, "pixel_acc": m.pixel_acc, "class_acc": m.class_acc, "absent": m.absent}

    def record(self, step: int, metrics: SegMetrics) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        append_jsonl(self.log_path, self.as_record(step, metrics))
        plot_curves(read_jsonl(self.log_path), ["miou", "pixel_acc", "class_acc"], self.run_dir / SEG_EVAL_PLOT, "validation")

    def overlay(self, step: int, metrics: SegMetrics, samples: tuple) -> None:
        title = f"step {step}: mIoU {metrics.miou:.3f}"
        target = self.run_dir / OVERLAYS_DIR / f"step-{step:07d}.png"
        path = save_overlay(*samples, self.class_names, self.ignore_index, target, title)
        shutil.copyfile(path, path.with_name("latest.png"))
        self.logger.log_images("val/overlay", str(path), step)
