"""The GAN job: models, the adversarial train step, sample grids and the inference export."""
from __future__ import annotations

import contextlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from .config import GANConfig, to_dict
from .data import build_image_dataset
from .engine.checkpoint import CheckpointError, save_safetensors_atomic, write_json_atomic
from .engine.data_stream import BatchStream
from .engine.ema import EMA
from .engine.loader import train_loader
from .engine.trainer import NonFiniteError
from .losses import LOSSES, gradient_penalty, r1_penalty
from .models import Discriminator, Generator
from .sampling import EXPORT_META, EXPORT_WEIGHTS, generate, latents_for_seeds, save_grid

NOISE_SEED_STRIDE = 1_000_003  # separates the latent-noise streams of different processes


def generator_kwargs(cfg: GANConfig) -> dict[str, Any]:
    m, d = cfg.model, cfg.data
    return dict(nz=m.nz, channels=d.channels, resolution=d.resolution, ngf=m.ngf, max_channels=m.max_channels, upsample=m.upsample, norm=m.g_norm)


def discriminator_kwargs(cfg: GANConfig) -> dict[str, Any]:
    m, d = cfg.model, cfg.data
    return dict(channels=d.channels, resolution=d.resolution, ndf=m.ndf, max_channels=m.max_channels, norm=m.d_norm)


def make_optimizer(params: Any, lr: float, cfg: GANConfig) -> torch.optim.Optimizer:
    o = cfg.optim
    return torch.optim.Adam(params, lr=lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)


def first_tensor(batch: Any) -> torch.Tensor:
    """Images of a batch that may carry labels or masks as well."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


class GANTask:
    """Non-saturating / hinge / WGAN-GP / LSGAN training of a DCGAN pair, plus EMA of G."""

    loss_keys = ["d_loss", "g_loss", "d_real", "d_fake", "gp", "r1"]

    def __init__(self, cfg: GANConfig, accelerator: Accelerator) -> None:
        self.cfg, self.acc = cfg, accelerator
        g, d = Generator(**generator_kwargs(cfg)), Discriminator(**discriminator_kwargs(cfg))
        opt_g, opt_d = make_optimizer(g.parameters(), cfg.optim.g_lr, cfg), make_optimizer(d.parameters(), cfg.optim.d_lr, cfg)
        loader = train_loader(build_image_dataset(cfg.data), cfg.train.batch_size, cfg.data.num_workers)
        self.G, self.D, self.opt_g, self.opt_d, self.dataloader = accelerator.prepare(g, d, opt_g, opt_d, loader)
        self.g_raw, self.d_raw = accelerator.unwrap_model(self.G), accelerator.unwrap_model(self.D)
        self.ema = EMA(self.g_raw, cfg.train.ema_decay, cfg.train.ema_start)
        self.loss = LOSSES[cfg.loss.type]
        self.noise = torch.Generator().manual_seed(cfg.train.seed + NOISE_SEED_STRIDE * (accelerator.process_index + 1))
        # With one micro-batch, the last D step's fakes (graph kept) also serve the G step, as in DCGAN;
        # with several, the G step regenerates them from the same latents (one graph alive at a time).
        self.reuse_fakes = cfg.train.grad_accum == 1
        self.images_per_step = cfg.train.batch_size * cfg.train.d_steps * cfg.train.grad_accum * accelerator.num_processes

    # ---- the step ---------------------------------------------------------------------------

    def train_step(self, batches: BatchStream, step: int) -> dict[str, float] | None:
        with self.acc.autocast():
            d_stats, fakes = self._d_phase(batches, step)
            if d_stats is None:
                return None
            g_stats = self._g_phase(fakes, step)
        if g_stats is None:
            return None
        self.ema.update(self.g_raw, step)
        return {**d_stats, **g_stats, "images": float(self.images_per_step)}

    def _latents(self, n: int) -> torch.Tensor:
        # One draw per sample: k micro-batches of b then get the same latents as one batch of k*b.
        nz = self.cfg.model.nz
        return torch.stack([torch.randn(nz, generator=self.noise) for _ in range(n)]).to(self.acc.device)

    def _generate(self, latents: torch.Tensor, keep_graph: bool) -> torch.Tensor:
        with torch.set_grad_enabled(keep_graph):
            return self.G(latents)

    def _no_sync(self, model: torch.nn.Module, micro: int):
        """Skip the DDP gradient all-reduce on all but the last micro-batch."""
        return self.acc.no_sync(model) if micro < self.cfg.train.grad_accum - 1 else contextlib.nullcontext()

    def _d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real_logits, fake_logits = self.D(real), self.D(fake)
        loss = self.loss.d(real_logits, fake_logits)
        parts = {"d_loss": loss.detach(), "d_real": real_logits.detach().float().mean(), "d_fake": fake_logits.detach().float().mean()}
        if self.loss.needs_gradient_penalty:
            gp = gradient_penalty(self.d_raw, real, fake)
            loss = loss + self.cfg.loss.gp_weight * gp
            parts["gp"] = gp.detach()
        if self.cfg.loss.r1_gamma > 0:
            r1 = r1_penalty(self.d_raw, real)
            loss = loss + 0.5 * self.cfg.loss.r1_gamma * r1
            parts["r1"] = r1.detach()
        return loss, parts

    def _d_phase(self, batches: BatchStream, step: int) -> tuple[dict[str, float] | None, list[torch.Tensor]]:
        """D updates; returns their stats and, for the G step, the last iteration's fakes or latents."""
        cfg, accum = self.cfg.train, self.cfg.train.grad_accum
        sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=self.acc.device))
        for_g: list[torch.Tensor] = []
        for d_iter in range(cfg.d_steps):
            keep = self.reuse_fakes and d_iter == cfg.d_steps - 1
            self._snapshot_buffers()
            self.opt_d.zero_grad(set_to_none=True)
            iter_loss, for_g = torch.zeros((), device=self.acc.device), []
            for micro in range(accum):
                real = first_tensor(next(batches))
                z = self._latents(real.shape[0])
                with self._no_sync(self.D, micro):
                    fake = self._generate(z, keep)
                    loss, parts = self._d_loss(real, fake.detach())
                    self.acc.backward(loss / accum)
                for_g.append(fake if keep else z)
                iter_loss += loss.detach() / accum
                for key, value in parts.items():
                    sums[key] += value / (accum * cfg.d_steps)
            if not self._step_if_finite(self.opt_d, self.D, "discriminator loss", iter_loss, step):
                return None, []
        return {k: float(v) for k, v in sums.items()}, for_g

    def _g_phase(self, for_g: list[torch.Tensor], step: int) -> dict[str, float] | None:
        """One G update over the micro-batches of the last D iteration (reused fakes or their latents)."""
        accum = self.cfg.train.grad_accum
        self._snapshot_buffers()
        self.opt_g.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.acc.device)
        # D is called unwrapped with frozen weights: its DDP hooks must not expect gradients here.
        self.d_raw.requires_grad_(False)
        try:
            for micro in range(accum):
                with self._no_sync(self.G, micro):
                    fake = for_g[micro] if self.reuse_fakes else self._generate(for_g[micro], True)
                    loss = self.loss.g(self.d_raw(fake))
                    self.acc.backward(loss / accum)
                total += loss.detach() / accum
        finally:
            self.d_raw.requires_grad_(True)
        if not self._step_if_finite(self.opt_g, self.G, "generator loss", total, step):
            return None
        return {"g_loss": float(total)}

    def _step_if_finite(self, opt: Any, model: torch.nn.Module, name: str, loss: torch.Tensor, step: int) -> bool:
        """Optimizer step unless the loss or a gradient is NaN/inf on any process.

        Returns False (weights untouched) when the step was skipped, either here with
        ``train.on_nonfinite=skip`` or by the fp16 grad scaler after an overflow.
        """
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        local = (~torch.isfinite(loss.detach())).float().sum()
        if self.acc.scaler is None and grads:  # with fp16 the grad scaler owns overflowing grads
            local = local + (~torch.isfinite(torch.stack([g.detach().abs().amax() for g in grads]))).float().sum()
        bad = self.acc.reduce(local, reduction="sum") if self.acc.num_processes > 1 else local
        if float(bad) > 0:
            opt.zero_grad(set_to_none=True)
            self._restore_buffers()  # BatchNorm statistics of the rejected forwards (maybe NaN) go too
            if self.cfg.train.on_nonfinite == "error":
                # "here": DDP averages gradients, so a NaN on one process reaches them all; the loss stays local
                raise NonFiniteError(
                    f"non-finite {name} or gradient at step {step + 1} ({name} here: {float(loss):.4g}); "
                    "weights left unchanged (set train.on_nonfinite=skip to skip such steps, or lower the learning rates)"
                )
            return False
        opt.step()
        return not self.acc.optimizer_step_was_skipped

    def _snapshot_buffers(self) -> None:
        """Keep the models' buffers from before an update, to restore if the update is rejected."""
        self._saved_buffers = [b.detach().clone() for m in (self.g_raw, self.d_raw) for b in m.buffers()]

    @torch.no_grad()
    def _restore_buffers(self) -> None:
        buffers = [b for m in (self.g_raw, self.d_raw) for b in m.buffers()]
        for buffer, saved in zip(buffers, self._saved_buffers):
            buffer.copy_(saved)

    # ---- state, samples, export -------------------------------------------------------------

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {f"ema.{k}": v for k, v in self.ema.state_dict().items()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore the EMA; called after the optimizers were restored, so the configured rates win."""
        self.ema.load_state_dict({k[len("ema."):]: v for k, v in tensors.items() if k.startswith("ema.")})
        self.apply_learning_rates()

    def apply_learning_rates(self) -> None:
        """Set the optimizers' rates from the config (a resume may change ``optim.*_lr``)."""
        for opt, lr in ((self.opt_g, self.cfg.optim.g_lr), (self.opt_d, self.cfg.optim.d_lr)):
            for group in opt.param_groups:
                group["lr"] = lr

    def extra_modules(self) -> list[torch.nn.Module]:
        """The EMA generator: its BatchNorm buffers are synced across processes like the models'."""
        return [self.ema.shadow]

    def rng_tensors(self) -> dict[str, torch.Tensor]:
        return {"noise": self.noise.get_state()}

    def load_rng_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "noise" not in tensors:
            raise CheckpointError("the checkpoint has no latent-noise RNG state ('noise'); cannot resume exactly")
        self.noise.set_state(tensors["noise"])

    def write_export(self, folder: Path, step: int) -> None:
        """EMA generator weights (safetensors) + what is needed to rebuild it (JSON)."""
        folder.mkdir(parents=True, exist_ok=True)
        save_safetensors_atomic(self.ema.state_dict(), folder / EXPORT_WEIGHTS)
        save_safetensors_atomic({k: v for k, v in self.d_raw.state_dict().items()}, folder / "discriminator.safetensors")
        meta = {"model": generator_kwargs(self.cfg), "discriminator": discriminator_kwargs(self.cfg), "step": step, "config": to_dict(self.cfg)}
        write_json_atomic(folder / EXPORT_META, meta)

    def sample_grid(self, step: int) -> dict[str, float]:
        """Fixed-noise grid from the EMA generator: ``samples/step-<step>.png`` and ``latest.png``."""
        latents = latents_for_seeds(range(self.cfg.log.num_samples), self.cfg.model.nz)
        images = generate(self.ema.shadow, latents, self.cfg.train.batch_size)
        run_dir = Path(self.cfg.out_dir)
        path = save_grid(images, run_dir / "samples" / f"step-{step:07d}.png")
        save_grid(images, run_dir / "samples" / "latest.png")
        self.last_grid = path
        return {}
