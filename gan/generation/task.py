"""The GAN job as a :class:`gan.engine.trainer.Task`: builds the models, keeps the EMA, writes grids and exports.

The adversarial step itself is :class:`gan.generation.step.GANStep`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn

from ..config import to_dict
from ..data import build_image_dataset
from ..data.indexed import gan_train_loader
from ..engine.best import BestKeeper
from ..engine.data_stream import BatchStream
from ..engine.ema import EMA
from ..engine.optim import fused_optimizer
from ..engine.state import RandomStream, StateRegistry
from ..engine.streams import process_stream
from ..engine.update import StepGuard
from ..formats import DISCRIMINATOR_WEIGHTS, GENERATOR, SAMPLES_DIR, write_export
from ..models import Discriminator, Generator
from ..models.generate import generate, grid_inputs
from .augment import build_augmentation
from .classes import resolve_num_classes
from .config import GANConfig
from .sampling import save_grid
from .step import GANStep

def generator_kwargs(cfg: GANConfig, num_classes: int = 0) -> dict[str, Any]:
    """Generator constructor arguments (what an export records); ``num_classes`` is the resolved class count."""
    m, d = cfg.model, cfg.data
    return dict(nz=m.nz, channels=d.channels, resolution=d.resolution, ngf=m.ngf, max_channels=m.max_channels, upsample=m.upsample, norm=m.g_norm,
                num_classes=num_classes, cond=m.g_cond if num_classes else "none", attention=list(m.attention))


def discriminator_kwargs(cfg: GANConfig, num_classes: int = 0) -> dict[str, Any]:
    """Discriminator constructor arguments; ``num_classes`` is the resolved class count."""
    m, d = cfg.model, cfg.data
    return dict(channels=d.channels, resolution=d.resolution, ndf=m.ndf, max_channels=m.max_channels, norm=m.d_norm,
                num_classes=num_classes, cond=m.d_cond if num_classes else "none", attention=list(m.attention))


def use_channels_last(setting: str, device_type: str) -> bool:
    """Whether G and D are stored in NHWC: ``setting`` itself, or for ``auto`` where it was measured faster.

    NHWC made CPU steps faster in float32 and bf16 (``benchmarks/cpu_step_ab.py``; figures in
    ``docs/benchmarks.md``, "Steady-state step, in process"). It has not been measured on a GPU, so
    ``auto`` means NHWC on a CPU only, whatever the precision.
    """
    if setting != "auto":
        return setting == "true"
    return device_type == "cpu"


def make_optimizer(params: Any, lr: float, cfg: GANConfig, device: torch.device) -> torch.optim.Optimizer:
    o = cfg.optim
    return torch.optim.Adam(params, lr=lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay, **fused_optimizer(device))


class GANTask:
    """Adversarial training (a loss of :data:`gan.generation.losses.LOSSES`) of a DCGAN pair, plus EMA of G."""

    loss_keys = ["d_loss", "g_loss", "d_real", "d_fake", "gp", "r1", "r2", "aug_p", "aug_rt"]

    def __init__(self, cfg: GANConfig, accelerator: Accelerator) -> None:
        self.cfg, self.acc = cfg, accelerator
        self.plot_every = cfg.log.sample_every
        dataset = build_image_dataset(cfg.data)
        self.label_names: list[str] = dataset.label_names  # type: ignore[attr-defined]
        # model.num_classes=auto stays "auto" in the recorded config; the export records the resolved count.
        self.num_classes = resolve_num_classes(cfg.model, cfg.data, self.label_names)
        g, d = Generator(**generator_kwargs(cfg, self.num_classes)), Discriminator(**discriminator_kwargs(cfg, self.num_classes))
        if use_channels_last(cfg.train.channels_last, accelerator.device.type):
            g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
        opt_g, opt_d = make_optimizer(g.parameters(), cfg.optim.g_lr, cfg, accelerator.device), make_optimizer(d.parameters(), cfg.optim.d_lr, cfg, accelerator.device)
        # Workers decode images; a decoded cache is indexed a batch at a time instead (on the device when it fits).
        loader = gan_train_loader(dataset, cfg.train.batch_size, cfg.data.num_workers, accelerator.device)
        self.G, self.D, self.opt_g, self.opt_d, self.dataloader = accelerator.prepare(g, d, opt_g, opt_d, loader)
        # For checkpoints, the EMA and exports. Without Accelerate's autocast wrapper on forward: the step
        # autocasts itself, and grids, evaluation and exports must compute as inference does (float32).
        self.g_raw, self.d_raw = (accelerator.unwrap_model(m, keep_fp32_wrapper=False) for m in (self.G, self.D))
        self.ema = EMA(self.g_raw, cfg.train.ema_decay, cfg.train.ema_start)
        # On the device: a D update's latents are drawn there in one call (GANStep.latents).
        self.noise = process_stream(cfg.train.seed, accelerator.process_index, "latents", accelerator.device)
        self.best = BestKeeper(cfg.out_dir, higher_is_better=False)  # periodic evaluation keeps best/ (lowest FID)
        guard = StepGuard(accelerator, [self.g_raw, self.d_raw], cfg.train.on_nonfinite)
        # The step may run compiled modules; the EMA, checkpoints and exports keep the uncompiled ones.
        run_g, run_d = (torch.compile(self.G), torch.compile(self.D)) if cfg.train.compile else (self.G, self.D)
        # Unconditional models (c_dim 0): the dataset's labels travel with the batches but are not used.
        self.images_per_step = cfg.train.batch_size * cfg.train.d_steps * cfg.train.grad_accum * accelerator.num_processes
        self.augment = build_augmentation(cfg, accelerator, self.images_per_step)  # identity without augment.policy
        self.gan_step = GANStep(cfg, accelerator, run_g, run_d, self.opt_g, self.opt_d, guard, self.noise,
                                c_dim=self.num_classes, augment=self.augment)
        # What checkpoints keep besides the prepared models and optimizers; the configured rates win on resume.
        noise = RandomStream(self.noise, "noise", "latent-noise RNG state")
        self.state = StateRegistry([self.ema, noise, self.augment, self.best], after_load=self.apply_learning_rates)

    def train_step(self, batches: BatchStream, step: int) -> dict[str, float] | None:
        stats = self.gan_step(batches, step)
        aug_stats = self.augment.end_step(step + 1, ok=stats is not None)
        if stats is None:
            return None
        self.ema.update(self.g_raw, step)
        return {**stats, **aug_stats, "images": float(self.images_per_step)}

    # ---- state ------------------------------------------------------------------------------

    def buffer_modules(self) -> list[nn.Module]:
        """Modules whose buffers (BatchNorm statistics) are made equal across processes before a save."""
        return [self.g_raw, self.d_raw, self.ema.shadow]

    def apply_learning_rates(self) -> None:
        """Set the optimizers' rates from the config (a resume may change ``optim.*_lr``)."""
        for opt, lr in ((self.opt_g, self.cfg.optim.g_lr), (self.opt_d, self.cfg.optim.d_lr)):
            for group in opt.param_groups:
                group["lr"] = lr

    # ---- outputs ----------------------------------------------------------------------------

    def write_export(self, folder: Path, step: int) -> None:
        """EMA generator weights + the discriminator (a segmentation encoder's source) + how to rebuild them."""
        meta = {
            "model": generator_kwargs(self.cfg, self.num_classes), "discriminator": discriminator_kwargs(self.cfg, self.num_classes), "step": step,
            "label_names": self.label_names, "config": to_dict(self.cfg),
        }
        write_export(folder, GENERATOR, self.ema.state_dict(), meta, extra={DISCRIMINATOR_WEIGHTS: self.d_raw.state_dict()})

    def sample_grid(self, step: int) -> Path:
        """Fixed-noise grid from the EMA generator: ``samples/step-<step>.png`` and ``latest.png``.

        ``log.num_samples`` images; a conditional generator's grid has one row per class (see
        :func:`gan.models.generate.grid_inputs`).
        """
        latents, labels, nrow = grid_inputs(self.cfg.model.nz, self.num_classes, self.cfg.log.num_samples)
        images = generate(self.ema.shadow, latents, self.cfg.train.batch_size, labels=labels)
        run_dir = Path(self.cfg.out_dir)
        path = save_grid(images, run_dir / SAMPLES_DIR / f"step-{step:07d}.png", nrow)
        save_grid(images, run_dir / SAMPLES_DIR / "latest.png", nrow)
        return path
