"""Adversarial losses and gradient penalties.

Every loss takes raw discriminator logits, computes in float32 (safe under fp16/bf16 autocast) and
returns a scalar. Losses are chosen by name from :data:`LOSSES`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


@dataclass(frozen=True)
class GANLoss:
    """A pair of losses: ``d(real_logits, fake_logits)`` and ``g(fake_logits)``."""

    d: Callable[[Tensor, Tensor], Tensor]
    g: Callable[[Tensor], Tensor]
    needs_gradient_penalty: bool = False


def _f32(x: Tensor) -> Tensor:
    return x.float()


def ns_d(real: Tensor, fake: Tensor) -> Tensor:
    """-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))), via softplus for stability."""
    return F.softplus(-_f32(real)).mean() + F.softplus(_f32(fake)).mean()


def ns_g(fake: Tensor) -> Tensor:
    """Non-saturating generator loss -log sigmoid(D(G(z)))."""
    return F.softplus(-_f32(fake)).mean()


def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1.0 - _f32(real)).mean() + F.relu(1.0 + _f32(fake)).mean()


def mean_g(fake: Tensor) -> Tensor:
    """-D(G(z)): the generator loss of hinge and Wasserstein GANs."""
    return -_f32(fake).mean()


def wasserstein_d(real: Tensor, fake: Tensor) -> Tensor:
    return _f32(fake).mean() - _f32(real).mean()


def lsgan_d(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * ((_f32(real) - 1.0) ** 2).mean() + 0.5 * (_f32(fake) ** 2).mean()


def lsgan_g(fake: Tensor) -> Tensor:
    return 0.5 * ((_f32(fake) - 1.0) ** 2).mean()


LOSSES: dict[str, GANLoss] = {
    "nonsaturating": GANLoss(ns_d, ns_g),
    "hinge": GANLoss(hinge_d, mean_g),
    "wgan_gp": GANLoss(wasserstein_d, mean_g, needs_gradient_penalty=True),
    "lsgan": GANLoss(lsgan_d, lsgan_g),
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
