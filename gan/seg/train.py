"""Entry point of segmentation training: config -> Accelerator -> SegTask -> the shared Trainer."""
from __future__ import annotations

from ..engine.rundir import claim_run_dir
from ..engine.setup import accelerated_run
from ..engine.trainer import Hook, Trainer
from .config import SegConfig
from .evaluate import Evaluator
from .task import SegTask


def run_seg_training(cfg: SegConfig, extra_hooks: list[Hook] | None = None) -> int:
    """Train a segmentation model as configured; returns the exit code (non-zero when preempted)."""
    # Lock out_dir and refuse a fresh run over an old one before anything is written; end the process group after.
    with claim_run_dir(cfg), accelerated_run(cfg) as (acc, logger):
        task = SegTask(cfg, acc)
        # Every process evaluates its shard; the confusion matrices are summed before any metric.
        hooks = [Hook(cfg.eval.every, Evaluator(task, logger), all_processes=True)] + list(extra_hooks or [])
        return Trainer(cfg, task, acc, logger, hooks).fit()  # writes config.yaml once a resume is accepted
