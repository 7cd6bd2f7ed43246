"""Entry point of GAN training: config -> Accelerator -> GANTask -> the shared Trainer."""
from __future__ import annotations

from ..engine.rundir import claim_run_dir
from ..engine.setup import accelerated_run
from ..engine.trainer import Hook, Trainer
from .config import GANConfig
from .task import GANTask


def run_training(cfg: GANConfig, extra_hooks: list[Hook] | None = None) -> int:
    """Train a GAN as configured; returns the exit code (non-zero when preempted)."""
    # Lock out_dir and refuse a fresh run over an old one before anything is written; end the process group after.
    with claim_run_dir(cfg), accelerated_run(cfg) as (acc, logger):
        task = GANTask(cfg, acc)

        def sample_hook(step: int) -> dict[str, float]:
            logger.log_images("samples", str(task.sample_grid(step)), step)
            return {}

        hooks = [Hook(cfg.log.sample_every, sample_hook)] + list(extra_hooks or [])
        if cfg.eval.every > 0:  # torch-fidelity is imported only when evaluation is on
            from ..evaluation.hook import make_eval_hook

            hooks.append(make_eval_hook(cfg, task, acc.device))
        return Trainer(cfg, task, acc, logger, hooks).fit()  # writes config.yaml once a resume is accepted
