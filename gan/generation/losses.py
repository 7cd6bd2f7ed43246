"""Adversarial losses and gradient penalties.

Every loss takes raw discriminator logits, computes in float32 (safe under fp16/bf16 autocast) and
returns a scalar. Losses are chosen by name from :data:`LOSSES`. A relativistic loss (``pairs_real``)
compares each fake's logit with the real logit at the same batch position, so its generator loss
reads D(real) too; the others ignore that argument.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


@dataclass(frozen=True)
class GANLoss:
    """A pair of losses: ``d(real_logits, fake_logits)`` and ``g(fake_logits, real_logits)``."""

    d: Callable[[Tensor, Tensor], Tensor]
    g: Callable[..., Tensor]  # g(fake, real=None): real logits are passed (and read) only when pairs_real
    needs_gradient_penalty: bool = False
    pairs_real: bool = False  # relativistic pairing: G's loss needs D(real) of the batch its fakes are paired with


def _f32(x: Tensor) -> Tensor:
    return x.float()


def ns_d(real: Tensor, fake: Tensor) -> Tensor:
    """-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))), via softplus for stability."""
    return F.softplus(-_f32(real)).mean() + F.softplus(_f32(fake)).mean()


def ns_g(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """Non-saturating generator loss -log sigmoid(D(G(z)))."""
    return F.softplus(-_f32(fake)).mean()


def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1.0 - _f32(real)).mean() + F.relu(1.0 + _f32(fake)).mean()


def mean_g(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """-D(G(z)): the generator loss of hinge and Wasserstein GANs."""
    return -_f32(fake).mean()


def wasserstein_d(real: Tensor, fake: Tensor) -> Tensor:
    return _f32(fake).mean() - _f32(real).mean()


def lsgan_d(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * ((_f32(real) - 1.0) ** 2).mean() + 0.5 * (_f32(fake) ** 2).mean()


def lsgan_g(fake: Tensor, real: Tensor | None = None) -> Tensor:
    return 0.5 * ((_f32(fake) - 1.0) ** 2).mean()


def _paired(a: Tensor, b: Tensor) -> Tensor:
    """``a - b`` for logits of the same batch positions (no broadcasting: a size mismatch is a bug)."""
    if a.shape != b.shape:
        raise ValueError(f"relativistic pairing needs real and fake logits of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return _f32(a) - _f32(b)


def rpgan_d(real: Tensor, fake: Tensor) -> Tensor:
    """Relativistic pairing (RpGAN, Huang et al. 2024): softplus(-(D(x_i) - D(G(z_i)))), real i paired with fake i."""
    return F.softplus(-_paired(real, fake)).mean()


def rpgan_g(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """RpGAN's generator loss softplus(-(D(G(z_i)) - D(x_i))): the D loss with the roles swapped."""
    if real is None:
        raise ValueError("the rpgan generator loss needs the real logits its fakes are paired with")
    return F.softplus(-_paired(fake, real)).mean()


LOSSES: dict[str, GANLoss] = {
    "nonsaturating": GANLoss(ns_d, ns_g),
    "hinge": GANLoss(hinge_d, mean_g),
    "wgan_gp": GANLoss(wasserstein_d, mean_g, needs_gradient_penalty=True),
    "lsgan": GANLoss(lsgan_d, lsgan_g),
    "rpgan": GANLoss(rpgan_d, rpgan_g, pairs_real=True),  # R3GAN's objective with loss.r1_gamma = loss.r2_gamma > 0
}


def _input_grad(outputs: Tensor, inputs: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(outputs.float().sum(), inputs, create_graph=True)
    return grad.float().flatten(1)


def gradient_penalty(disc: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP: E[(||grad D(x_hat)||_2 - 1)^2] on random interpolates of real and fake images."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    grad = _input_grad(disc(mixed), mixed)
    return ((grad.norm(2, dim=1) - 1.0) ** 2).mean()


def r1_penalty(disc: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real images; weight it by gamma / 2."""
    real = real.detach().requires_grad_(True)
    grad = _input_grad(disc(real), real)
    return grad.pow(2).sum(dim=1).mean()


def r2_penalty(disc: Callable[[Tensor], Tensor], fake: Tensor) -> Tensor:
    """R2: R1's zero-centred penalty on generated images, E[||grad D(G(z))||^2] (detached from G); weight it by gamma / 2."""
    return r1_penalty(disc, fake)


def lazy_scale(d_update: int, every: int) -> int:
    """Weight of the penalties on D update number ``d_update`` (0-based) under lazy regularisation.

    As StyleGAN2: penalties are computed on updates 0, k, 2k, ... only, multiplied by k so their
    average pull is that of a penalty on every update; 0 on the other updates (no penalty computed).
    """
    return every if d_update % every == 0 else 0
