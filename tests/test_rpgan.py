"""RpGAN + R1 + R2 (R3GAN's objective) and lazy regularisation, against values computed by hand."""
from __future__ import annotations

import dataclasses
import json
import math
import sys

import pytest
import torch
from torch import nn

from conftest import TINY, run_cmd
from gan.generation.losses import LOSSES, lazy_scale, r2_penalty
from test_rel_utils import tiny_cfg


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_rpgan_pairs_real_and_fake_logits_in_batch_order():
    loss = LOSSES["rpgan"]
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    # D: softplus(-(2 - 0.5)), softplus(-(-1 + 3)); G: the differences negated
    assert loss.d(real, fake).item() == pytest.approx((softplus(-1.5) + softplus(-2.0)) / 2, rel=1e-6)
    assert loss.g(fake, real).item() == pytest.approx((softplus(1.5) + softplus(2.0)) / 2, rel=1e-6)
    # another pairing of the same logits is another loss: real 2 against fake -3, real -1 against fake 0.5
    assert loss.d(real, fake.flip(0)).item() == pytest.approx((softplus(-5.0) + softplus(1.5)) / 2, rel=1e-6)
    assert loss.pairs_real and not LOSSES["nonsaturating"].pairs_real
    with pytest.raises(ValueError, match="needs the real logits"):
        loss.g(fake)
    with pytest.raises(ValueError, match="same shape"):
        loss.d(real, torch.zeros(3))


def test_r2_penalty_of_a_linear_critic():
    w = torch.tensor([[[1.0, 2.0], [0.0, -2.0]]])  # D(x) = <w, x>: grad w, ||w||^2 = 9 at every fake
    fake = torch.randn(3, 1, 2, 2, requires_grad=True)
    assert r2_penalty(lambda x: (x * w).flatten(1).sum(1), fake).item() == pytest.approx(9.0, rel=1e-6)


def test_lazy_scale_is_k_on_every_kth_update_and_zero_between():
    assert [lazy_scale(i, 4) for i in range(10)] == [4, 0, 0, 0, 4, 0, 0, 0, 4, 0]
    assert [lazy_scale(i, 1) for i in range(3)] == [1, 1, 1]


class LinearCritic(nn.Module):
    """D(x) = <w, x> per image (labels ignored): its input gradient is w at every image."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[[1.0, 2.0], [0.0, -2.0]]]))  # ||w||^2 = 9

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1)


def linear_step(tmp_path, *overrides):
    from gan.engine.setup import make_accelerator
    from gan.generation.step import GANStep

    cfg = tiny_cfg(tmp_path / "run", *overrides)
    acc = make_accelerator(cfg)[0]
    noise = torch.Generator().manual_seed(0)
    return GANStep(cfg, acc, nn.Identity(), LinearCritic(), None, None, None, noise)  # d_loss and reg_scale use neither G nor the optimizers


def test_d_loss_adds_r1_and_r2_weighted_by_gamma_over_2_and_the_lazy_scale(tmp_path):
    step = linear_step(tmp_path, "loss.type=rpgan", "loss.r1_gamma=2", "loss.r2_gamma=4", "loss.reg_every=3")
    real = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])  # logits 1, 0
    fake = torch.tensor([[[[0.0, 1.0], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.5]]]])  # logits 2, -1
    adversarial = (softplus(-(1 - 2)) + softplus(-(0 + 1))) / 2
    loss, parts = step.d_loss(real, None, fake, None, sync=True, reg_scale=3)
    assert parts["r1"].item() == pytest.approx(9.0) and parts["r2"].item() == pytest.approx(9.0)
    # 3 * (2/2 * 9 + 4/2 * 9) = 81 on top of the pairing loss
    assert loss.item() == pytest.approx(adversarial + 81.0, rel=1e-6)
    assert parts["d_loss"].item() == pytest.approx(adversarial, rel=1e-6)
    plain, parts = step.d_loss(real, None, fake, None, sync=True, reg_scale=0)
    assert plain.item() == pytest.approx(adversarial, rel=1e-6) and "r1" not in parts and "r2" not in parts
    # The penalty reaches D's weights: d/dw of 3 * (1 + 2) * ||w||^2 = 18 w, plus the pairing loss's gradient
    loss.backward()
    sig = torch.sigmoid
    grad_adv = (-sig(torch.tensor(1.0)) * (real[0] - fake[0]) - sig(torch.tensor(-1.0)) * (real[1] - fake[1])) / 2
    assert torch.allclose(step.D.w.grad, grad_adv + 18 * step.D.w.detach(), atol=1e-5)


def test_reg_scale_counts_d_updates_across_steps(tmp_path):
    step = linear_step(tmp_path, "loss.r1_gamma=1", "loss.reg_every=3", "train.d_steps=2")
    # D updates 0..7 of steps 0-3 (two a step): penalties on updates 0, 3 and 6, weighted by 3
    assert [step.reg_scale(s, i) for s in range(4) for i in range(2)] == [3, 0, 0, 3, 0, 0, 3, 0]


def test_training_computes_penalties_on_every_kth_step_and_pairs_reals_in_the_g_update(tmp_path):
    from gan.engine.setup import make_accelerator
    from gan.engine.trainer import Trainer, TrainerSettings
    from gan.generation.task import GANTask

    cfg = tiny_cfg(tmp_path / "run", "loss.type=rpgan", "loss.r1_gamma=0.5", "loss.r2_gamma=0.5", "loss.reg_every=3")
    acc, logger = make_accelerator(cfg)
    task = GANTask(cfg, acc)
    seen = []

    def recording_g(fake, real=None):
        seen.append((fake.shape, None if real is None else real.shape))
        return LOSSES["rpgan"].g(fake, real)

    task.gan_step.loss = dataclasses.replace(LOSSES["rpgan"], g=recording_g)
    batches = Trainer(TrainerSettings.of(cfg), task, acc, logger).batches
    stats = [task.train_step(batches, s) for s in range(7)]
    assert [s for s, st in enumerate(stats) if "r1" in st] == [0, 3, 6]
    assert [s for s, st in enumerate(stats) if "r2" in st] == [0, 3, 6]
    assert all(math.isfinite(st[k].item()) for st in stats for k in st if k != "images")
    assert seen == [(torch.Size([8]), torch.Size([8]))] * 7  # every G update got the 8 paired real logits


def test_train_gan_runs_rpgan_with_lazy_r1_r2(tmp_path):
    out = tmp_path / "rp"
    res = run_cmd([sys.executable, "train_gan.py", "--config", "tests/defaults.yaml", *TINY, f"out_dir={out}", "train.steps=4",
                   "loss.type=rpgan", "loss.r1_gamma=0.1", "loss.r2_gamma=0.1", "loss.reg_every=2", "log.sample_every=4", "checkpoint.every=4"])
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert [r["step"] for r in rows if "r1" in r] == [1, 3] == [r["step"] for r in rows if "r2" in r]  # steps 0 and 2, 1-based in the log
    assert (out / "export" / "generator.safetensors").is_file()
    saved = json.loads((out / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())["config"]["loss"]
    assert saved == {"type": "rpgan", "gp_weight": 10.0, "r1_gamma": 0.1, "r2_gamma": 0.1, "reg_every": 2}
