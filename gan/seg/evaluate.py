"""Validation during training: a sharded pass, one confusion matrix summed across processes, then
metrics, ``eval.jsonl``, an overlay PNG, tracker logs and the ``best`` export (main process).

Whole frames are scored (no crop); with native masks (``eval.native_size``) the logits are upsampled
to each mask's own size first."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from ..formats import BEST_DIR, OVERLAYS_DIR, SEG_EVAL_LOG, SEG_EVAL_PLOT
from ..engine.loader import worker_iter
from ..engine.stats import append_jsonl, plot_curves, read_jsonl
from ..engine.tracking import SafeLogger
from .frames import frame_confusion, overlay_samples
from .metrics import SegMetrics, metrics_from_confusion
from .overlay import save_overlay
from .task import SegTask


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


class Evaluator:
    """The evaluation hook; run it on every process (``Hook(..., all_processes=True)``)."""

    def __init__(self, task: SegTask, logger: SafeLogger) -> None:
        self.task, self.logger, self.acc = task, logger, task.acc
        self.run_dir = Path(task.cfg.out_dir)
        self.log_path = self.run_dir / SEG_EVAL_LOG

    def __call__(self, step: int) -> dict[str, float] | None:
        task = self.task
        confusion = confusion_over(task.model, worker_iter(task.val_loader), len(task.class_names), task.ignore_index)
        if self.acc.num_processes > 1:
            confusion = self.acc.reduce(confusion, reduction="sum")
        if not self.acc.is_main_process:
            return None
        metrics = metrics_from_confusion(confusion.cpu())
        tqdm.write(f"eval step {step}: {metrics.summary(task.class_names)}")
        self.record(step, metrics)
        samples = overlay_samples(task.raw, task.data.val, task.cfg.eval.overlay_images)
        if samples is not None:
            self.overlay(step, metrics, samples)
        if metrics.miou > task.best_miou:
            task.best_miou = metrics.miou
            task.write_export(self.run_dir / BEST_DIR, step, self.as_record(step, metrics))
        return metrics.as_log(task.class_names)

    @staticmethod
    def as_record(step: int, m: SegMetrics) -> dict:
        return {"step": step, "miou": m.miou, "iou": m.iou, "pixel_acc": m.pixel_acc, "class_acc": m.class_acc, "absent": m.absent}

    def record(self, step: int, metrics: SegMetrics) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        append_jsonl(self.log_path, self.as_record(step, metrics))
        plot_curves(read_jsonl(self.log_path), ["miou", "pixel_acc", "class_acc"], self.run_dir / SEG_EVAL_PLOT, "validation")

    def overlay(self, step: int, metrics: SegMetrics, samples: tuple) -> None:
        title = f"step {step}: mIoU {metrics.miou:.3f}"
        path = save_overlay(*samples, self.task.class_names, self.task.ignore_index, self.run_dir / OVERLAYS_DIR / f"step-{step:07d}.png", title)
        shutil.copyfile(path, path.with_name("latest.png"))
        self.logger.log_images("val/overlay", str(path), step)
