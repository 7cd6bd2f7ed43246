"""Entry point of GAN training: config -> Accelerator -> GANTask -> Trainer."""
from __future__ import annotations

from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed

from .config import GANConfig, flatten, to_dict, to_yaml
from .engine.trainer import Hook, Trainer
from .engine.tracking import SafeLogger, tracker_settings
from .gan_task import GANTask


def make_accelerator(cfg: GANConfig) -> tuple[Accelerator, SafeLogger]:
    """One Accelerator for the run (mixed precision, tracker, seedable data order)."""
    log_with, init_kwargs = tracker_settings(cfg.log.tracker, cfg.out_dir)
    acc = Accelerator(
        mixed_precision=cfg.train.mixed_precision,
        log_with=log_with,
        project_dir=cfg.out_dir,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=cfg.train.seed),
    )
    # Different processes start from the same seed; data sharding and the per-rank noise streams differ.
    set_seed(cfg.train.seed)
    if log_with:
        run_name = Path(cfg.out_dir).name
        init_kwargs.setdefault("wandb", {})["name"] = run_name
        acc.init_trackers(cfg.log.project, config=flatten(to_dict(cfg)), init_kwargs=init_kwargs)
    return acc, SafeLogger(acc, enabled=log_with is not None)


def write_run_config(cfg: GANConfig, acc: Accelerator) -> None:
    if acc.is_main_process:
        out = Path(cfg.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(to_yaml(cfg))


def run_training(cfg: GANConfig, extra_hooks: list[Hook] | None = None) -> int:
    """Train a GAN as configured; returns the exit code (non-zero when preempted)."""
    acc, logger = make_accelerator(cfg)
    write_run_config(cfg, acc)
    task = GANTask(cfg, acc)

    def sample_hook(step: int) -> dict[str, float]:
        task.sample_grid(step)
        logger.log_images("samples", str(task.last_grid), step)
        return {}

    hooks = [Hook(cfg.log.sample_every, sample_hook)] + list(extra_hooks or [])
    return Trainer(cfg, task, acc, logger, hooks).fit()
