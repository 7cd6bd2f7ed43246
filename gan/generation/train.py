"""Entry point of GAN training: config -> Accelerator -> GANTask -> the shared Trainer, with its hooks."""
from __future__ import annotations

from pathlib import Path

import torch

from ..engine.rundir import claim_run_dir
from ..engine.setup import accelerated_run
from ..engine.trainer import Hook, Trainer, TrainerSettings
from .config import GANConfig
from .task import GANTask


def evaluation_hook(cfg: GANConfig, task: GANTask, device: torch.device) -> Hook:
    """The periodic evaluation of the EMA generator (``eval.every`` > 0), keeping the best export.

    Built on every process so a bad eval config or missing weights stops all of them before
    training; only the main process runs it (the Trainer's rule for hooks).
    """
    # torch-fidelity is imported only when evaluation is on
    from ..evaluation.evaluator import Evaluator, default_cache_dir
    from ..evaluation.hook import PeriodicEvaluation

    cache = Path(cfg.eval.cache_dir) if cfg.eval.cache_dir else default_cache_dir(cfg.out_dir)
    evaluator = Evaluator(cfg.eval, cfg.data, cache, device)
    fn = PeriodicEvaluation(evaluator, Path(cfg.out_dir), lambda: task.ema.shadow, cfg.model.nz, task.write_export,
                            task.best, task.num_classes)
    return Hook(cfg.eval.every, fn)


def run_training(cfg: GANConfig, extra_hooks: list[Hook] | None = None) -> int:
    """Train a GAN as configured; returns the exit code (non-zero when preempted)."""
    # Lock out_dir and refuse a fresh run over an old one before anything is written; end the process group after.
    with claim_run_dir(cfg), accelerated_run(cfg) as (acc, logger):
        task = GANTask(cfg, acc)

        def sample_hook(step: int) -> dict[str, float]:
            logger.log_images("samples", str(task.sample_grid(step)), step)
            return {}

        hooks = [Hook(cfg.log.sample_every, sample_hook)] + list(extra_hooks or [])
        if cfg.eval.every > 0:
            hooks.append(evaluation_hook(cfg, task, acc.device))
        # The Trainer writes config.yaml once a resume is accepted.
        return Trainer(TrainerSettings.of(cfg), task, acc, logger, hooks).fit()
