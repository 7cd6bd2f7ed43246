"""Each adversarial loss and penalty against values computed by hand."""
from __future__ import annotations

import math

import pytest
import torch

from gan.generation.losses import LOSSES, gradient_penalty, r1_penalty

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_nonsaturating():
    loss = LOSSES["nonsaturating"]
    d = (softplus(-2.0) + softplus(1.0)) / 2 + (softplus(0.5) + softplus(-3.0)) / 2
    assert loss.d(REAL, FAKE).item() == pytest.approx(d, rel=1e-6)
    assert loss.g(FAKE).item() == pytest.approx((softplus(-0.5) + softplus(3.0)) / 2, rel=1e-6)
    # equals binary cross-entropy with logits, the DCGAN formulation
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    assert loss.d(REAL, FAKE).item() == pytest.approx((bce(REAL, torch.ones(2)) + bce(FAKE, torch.zeros(2))).item(), rel=1e-6)


def test_hinge():
    loss = LOSSES["hinge"]
    # relu(1 - [2, -1]) = [0, 2]; relu(1 + [0.5, -3]) = [1.5, 0]
    assert loss.d(REAL, FAKE).item() == pytest.approx(1.0 + 0.75)
    assert loss.g(FAKE).item() == pytest.approx(1.25)


def test_wasserstein():
    loss = LOSSES["wgan_gp"]
    assert loss.d(REAL, FAKE).item() == pytest.approx(-1.25 - 0.5)
    assert loss.g(FAKE).item() == pytest.approx(1.25)
    assert loss.needs_gradient_penalty


def test_least_squares():
    loss = LOSSES["lsgan"]
    # 0.5*mean([1, 4]) + 0.5*mean([0.25, 9])
    assert loss.d(REAL, FAKE).item() == pytest.approx(1.25 + 2.3125)
    # 0.5*mean([0.25, 16])
    assert loss.g(FAKE).item() == pytest.approx(4.0625)


def test_losses_are_float32_and_finite_for_half_precision_logits():
    big = torch.tensor([60000.0, -60000.0], dtype=torch.float16)
    for loss in LOSSES.values():
        for value in (loss.d(big, big), loss.g(big, big)):
            assert value.dtype == torch.float32
            assert torch.isfinite(value)


def linear_critic(w: torch.Tensor):
    """D(x) = <w, x> summed per image: its input gradient is w everywhere."""
    return lambda x: (x * w).flatten(1).sum(1)


def test_gradient_penalty_of_a_linear_critic():
    w = torch.full((1, 2, 2), 0.5)  # ||w||_2 = sqrt(4 * 0.25) = 1 -> penalty 0
    real, fake = torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    assert gradient_penalty(linear_critic(w), real, fake).item() == pytest.approx(0.0, abs=1e-10)
    w2 = torch.full((1, 2, 2), 1.5)  # ||w|| = 3 -> (3 - 1)^2 = 4
    assert gradient_penalty(linear_critic(w2), real, fake).item() == pytest.approx(4.0, rel=1e-6)


def test_r1_penalty_of_a_linear_critic():
    w = torch.tensor([[[1.0, 2.0], [0.0, -2.0]]])  # ||w||^2 = 9
    assert r1_penalty(linear_critic(w), torch.randn(4, 1, 2, 2)).item() == pytest.approx(9.0, rel=1e-6)


def test_penalties_backpropagate_to_critic_weights():
    d = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 1))
    r1_penalty(lambda x: d(x).flatten(), torch.randn(3, 1, 2, 2)).backward()
    assert d[1].weight.grad is not None and d[1].weight.grad.abs().sum() > 0
