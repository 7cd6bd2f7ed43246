"""The adversarial training step: ``d_steps`` discriminator updates, then one generator update.

G and D are called in exactly two places, :meth:`GANStep.run_G` and :meth:`GANStep.run_D` (as in
stylegan2-ada's ``loss.py``), through the prepared modules. Whatever must act on every G or D call
(augmentation of D's inputs, class conditioning, compiled modules) enters there and nowhere else.
``c`` is the batch of class labels, or None for an unconditional model.
"""
from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Any, Iterator

import torch
from accelerate import Accelerator
from torch import nn

from ..engine.data_stream import BatchStream
from ..engine.update import StepGuard, optimizer_update, sync_context
from .config import GANConfig
from .losses import LOSSES, gradient_penalty, lazy_scale, r1_penalty, r2_penalty

Tensor = torch.Tensor
# What the G update reads of each micro-batch of the last D update: its fakes (reused) or their latents, their
# labels, and the real images (and labels) they were paired with, which a relativistic loss compares them to.
ForG = tuple[Tensor, Tensor | None, Tensor, Tensor | None]


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """No gradients for ``module``'s weights inside the block (D during the G update)."""
    module.requires_grad_(False)
    try:
        yield
    finally:
        module.requires_grad_(True)


class GANStep:
    """One GAN training step over prepared ``G``/``D`` and their optimizers.

    Args:
        cfg: the run's config (loss, ``d_steps``, ``grad_accum``, latent size).
        accelerator: the run's accelerator.
        G, D, opt_g, opt_d: the prepared models and optimizers.
        guard: rejects non-finite updates (its modules are the unwrapped G and D).
        noise: this process's latent generator (checkpointed by the task).
        c_dim: number of classes; 0 = unconditional (labels are ignored and ``c`` is None).
        augment: augmentation of every D input (:class:`gan.generation.augment.Augmentation`); None = none.
    """

    def __init__(self, cfg: GANConfig, accelerator: Accelerator, G: nn.Module, D: nn.Module, opt_g: Any, opt_d: Any,
                 guard: StepGuard, noise: torch.Generator, c_dim: int = 0, augment: Any = None) -> None:
        self.cfg, self.acc = cfg, accelerator
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d
        self.guard, self.noise, self.c_dim = guard, noise, c_dim
        self.loss = LOSSES[cfg.loss.type]
        # With one micro-batch, the last D step's fakes (graph kept) also serve the G step, as in DCGAN;
        # with several, the G step regenerates them from the same latents (one graph alive at a time).
        self.reuse_fakes = cfg.train.grad_accum == 1
        self.augment = augment

    # ---- the only calls of G and D ---------------------------------------------------------

    def run_G(self, z: Tensor, c: Tensor | None, sync: bool = True) -> Tensor:
        """Images from latents ``z`` (and labels ``c``); ``sync=False`` skips the DDP all-reduce of G's gradients."""
        with sync_context(self.acc, self.G, sync):
            return self.G(z) if c is None else self.G(z, c)

    def run_D(self, x: Tensor, c: Tensor | None, sync: bool = True) -> Tensor:
        """Logits for images ``x`` (and labels ``c``); ``sync=False`` skips the DDP all-reduce of D's gradients."""
        if self.augment is not None:
            x = self.augment(x)
        with sync_context(self.acc, self.D, sync):
            return self.D(x) if c is None else self.D(x, c)

    # ---- inputs ------------------------------------------------------------------------------

    def latents(self, n: int) -> tuple[Tensor, Tensor | None]:
        """Latents (and labels) for ``n`` fakes, drawn in one call each where the noise generator lives (the device)."""
        device = self.noise.device
        z = torch.randn(n, self.cfg.model.nz, generator=self.noise, device=device).to(self.acc.device)
        c = None if not self.c_dim else torch.randint(self.c_dim, (n,), generator=self.noise, device=device).to(self.acc.device)
        return z, c

    def update_latents(self, n: int, accum: int) -> list[tuple[Tensor, Tensor | None]]:
        """Latents (and labels) of the ``accum`` micro-batches of ``n`` fakes of one update, drawn for all at once.

        So k micro-batches of b get the latents of one batch of k*b by construction.
        """
        z, c = self.latents(n * accum)
        return list(zip(z.split(n), c.split(n) if c is not None else [None] * accum))

    def real_batch(self, batches: BatchStream) -> tuple[Tensor, Tensor | None]:
        images, labels = next(batches)
        return images, (labels if self.c_dim else None)

    # ---- the step ----------------------------------------------------------------------------

    def __call__(self, batches: BatchStream, step: int) -> dict[str, Tensor] | None:
        """One step; its mean losses (0-d tensors, left on the device), or None when an update was rejected."""
        with self.acc.autocast():
            d_stats, for_g = self.d_phase(batches, step)
            if d_stats is None:
                return None
            g_stats = self.g_phase(for_g, step)
        return None if g_stats is None else {**d_stats, **g_stats}

    def reg_scale(self, step: int, d_iter: int) -> int:
        """Weight of the gradient penalties in D iteration ``d_iter`` of ``step``: ``loss.reg_every`` when due, else 0."""
        return lazy_scale(step * self.cfg.train.d_steps + d_iter, self.cfg.loss.reg_every)

    def d_loss(self, real: Tensor, c_real: Tensor | None, fake: Tensor, c_fake: Tensor | None, sync: bool,
               reg_scale: int = 1) -> tuple[Tensor, dict[str, Tensor]]:
        """D's loss on one micro-batch, with the gradient penalties weighted by ``reg_scale`` (0: none computed); its parts."""
        real_logits, fake_logits = self.run_D(real, c_real, sync), self.run_D(fake, c_fake, sync)
        if self.augment is not None:
            self.augment.observe(real_logits)  # the adaptive augmentation probability follows sign(D(real))
        loss = self.loss.d(real_logits, fake_logits)
        parts = {"d_loss": loss.detach(), "d_real": real_logits.detach().float().mean(), "d_fake": fake_logits.detach().float().mean()}
        if not reg_scale:
            return loss, parts
        # penalties see D exactly as the loss does (augmentation, labels); the logged values are unweighted
        disc = lambda x: self.run_D(x, c_real, sync)  # noqa: E731
        if self.loss.needs_gradient_penalty:
            gp = gradient_penalty(disc, real, fake)
            loss = loss + reg_scale * self.cfg.loss.gp_weight * gp
            parts["gp"] = gp.detach()
        if self.cfg.loss.r1_gamma > 0:
            r1 = r1_penalty(disc, real)
            loss = loss + reg_scale * 0.5 * self.cfg.loss.r1_gamma * r1
            parts["r1"] = r1.detach()
        if self.cfg.loss.r2_gamma > 0:
            r2 = r2_penalty(lambda x: self.run_D(x, c_fake, sync), fake)
            loss = loss + reg_scale * 0.5 * self.cfg.loss.r2_gamma * r2
            parts["r2"] = r2.detach()
        return loss, parts

    def d_phase(self, batches: BatchStream, step: int) -> tuple[dict[str, Tensor] | None, list[ForG]]:
        """D updates; returns their stats and, for the G step, the last iteration's fakes (or latents) with labels and reals.

        Each stat is its mean over the micro-batches that computed it (penalties only on lazy-regularisation updates).
        """
        d_steps, accum = self.cfg.train.d_steps, self.cfg.train.grad_accum
        sums: dict[str, Tensor] = defaultdict(lambda: torch.zeros((), device=self.acc.device))
        counts: dict[str, int] = defaultdict(int)
        for_g: list[ForG] = []
        for d_iter in range(d_steps):
            keep = self.reuse_fakes and d_iter == d_steps - 1
            for_g, latents = [], []
            reg_scale = self.reg_scale(step, d_iter)

            def micro_loss(micro: int, sync: bool) -> Tensor:
                nonlocal latents
                real, c_real = self.real_batch(batches)
                if micro == 0:  # every micro-batch has the first one's size (the loaders drop the last, short batch)
                    latents = self.update_latents(real.shape[0], accum)
                z, c_fake = latents[micro]
                with torch.set_grad_enabled(keep):
                    fake = self.run_G(z, c_fake)
                loss, parts = self.d_loss(real, c_real, fake.detach(), c_fake, sync=sync, reg_scale=reg_scale)
                for_g.append((fake if keep else z, c_fake, real, c_real))
                for key, value in parts.items():
                    sums[key] += value
                    counts[key] += 1
                return loss

            done = optimizer_update(self.guard, self.opt_d, self.D.parameters(), accum, micro_loss, "discriminator loss", step)
            if done is None:
                return None, []
        return {key: total / counts[key] for key, total in sums.items()}, for_g

    def g_phase(self, for_g: list[ForG], step: int) -> dict[str, Tensor] | None:
        """One G update over the micro-batches of the last D iteration (reused fakes, or regenerated from their latents).

        A relativistic loss also reads D's logits of the real images each fake was paired with in that iteration
        (no gradient: D is frozen and the reals are data).
        """
        def micro_loss(micro: int, sync: bool) -> Tensor:
            fake_or_z, c, real, c_real = for_g[micro]
            fake = fake_or_z if self.reuse_fakes else self.run_G(fake_or_z, c, sync=sync)
            real_logits = self.run_D(real, c_real, sync=False) if self.loss.pairs_real else None
            return self.loss.g(self.run_D(fake, c, sync=False), real_logits)

        with frozen(self.D):  # D's weights get no gradient here, and its all-reduce is skipped (sync=False)
            total = optimizer_update(self.guard, self.opt_g, self.G.parameters(), len(for_g), micro_loss, "generator loss",
                                     step)
        return None if total is None else {"g_loss": total}
