"""Entry point of segmentation training: config -> Accelerator -> SegTask -> the shared Trainer."""
from __future__ import annotations

from pathlib import Path

from ..engine.rundir import claim_run_dir
from ..engine.setup import accelerated_run
from ..engine.trainer import Hook, Trainer, TrainerSettings
from .config import SegConfig
from .evaluate import SegValidation
from .task import SegTask


def run_seg_training(cfg: SegConfig, extra_hooks: list[Hook] | None = None) -> int:
    """Train a segmentation model as configured; returns the exit code (non-zero when preempted)."""
    # Lock out_dir and refuse a fresh run over an old one before anything is written; end the process group after.
    with claim_run_dir(cfg), accelerated_run(cfg) as (acc, logger):
        task = SegTask(cfg, acc)
        validation = SegValidation(acc, logger, Path(cfg.out_dir), task.model, task.raw, task.val_loader,
                                   task.data.val, task.class_names, task.ignore_index, cfg.eval.overlay_images,
                                   keep_best=task.keep_if_best)
        # Every process evaluates its shard; the confusion matrices are summed before any metric.
        hooks = [Hook(cfg.eval.every, validation, all_processes=True)] + list(extra_hooks or [])
        # The Trainer writes config.yaml once a resume is accepted.
        return Trainer(TrainerSettings.of(cfg), task, acc, logger, hooks).fit()
