"""Differentiable augmentation of every image D sees (DiffAugment, Zhao et al. 2020), with an adaptive probability.

The ops (``augment.policy``, names from :data:`gan.names.GAN_AUGMENTATIONS`) work on batches of
[-1, 1] images on any device, draw their random parameters per sample from a caller-owned CPU
``torch.Generator``, and are differentiable in the images, so G's gradients flow through them:

- ``color``: brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5);
- ``translation``: a shift by up to 1/8 of the image size in each direction, zero padding;
- ``cutout``: a square of half the image size set to zero at a random place.

Each sample is augmented (by every op of the policy, in the order above) with probability ``p``.
With ``augment.target`` > 0, ``p`` adapts as in StyleGAN2-ADA (Karras et al. 2020): every
``augment.interval`` steps, r_t = E[sign(D(real))] over those steps (all processes) and
``p += sign(r_t - target) * images * interval / (speed_kimg * 1000)``, clamped to [0, 1], where
``images`` is the number of real images D sees per step (all processes). The sums behind r_t
stay on the device; they are read on the host only at those steps.

(The segmentation job's ``augment_ops`` in :mod:`gan.seg.transforms` are joint image/mask
transforms on the CPU, not differentiable: a different registry.)
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..engine.state import Stateful
from ..engine.streams import stream_seed
from ..errors import CheckpointError
from ..names import GAN_AUGMENTATIONS
from .config import AugmentConfig, GANConfig

Tensor = torch.Tensor
TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


def _uniform(x: Tensor, generator: torch.Generator) -> Tensor:
    """One U(0, 1) value per sample, shaped to broadcast over ``x``."""
    return torch.rand(x.shape[0], 1, 1, 1, generator=generator).to(x.device, x.dtype)


def color(x: Tensor, generator: torch.Generator) -> Tensor:
    """Random brightness, saturation and contrast per sample (DiffAugment's ``color``)."""
    brightness, saturation, contrast = _uniform(x, generator) - 0.5, _uniform(x, generator) * 2, _uniform(x, generator) + 0.5
    x = x + brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * saturation + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * contrast + mean


def shift(x: Tensor, dy: Tensor, dx: Tensor) -> Tensor:
    """``out[n, :, i, j] = x[n, :, i - dy[n], j - dx[n]]``, zero where that falls outside the image (int CPU shifts)."""
    n, _, h, w = x.shape
    ph, pw = int(dy.abs().max()), int(dx.abs().max())
    padded = F.pad(x, [pw, pw, ph, ph])
    rows = (torch.arange(h)[None] + ph - dy[:, None]).to(x.device)  # (n, h) rows of the padded image
    cols = (torch.arange(w)[None] + pw - dx[:, None]).to(x.device)
    batch = torch.arange(n, device=x.device)[:, None, None]
    # Advanced indices around a slice: the result is (n, h, w, C).
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def translation(x: Tensor, generator: torch.Generator) -> Tensor:
    """Shift each sample by up to 1/8 of the image size in each direction (zero padding)."""
    n, _, h, w = x.shape
    sh, sw = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    dy = torch.randint(-sh, sh + 1, (n,), generator=generator)
    dx = torch.randint(-sw, sw + 1, (n,), generator=generator)
    return shift(x, dy, dx)


def cut(x: Tensor, cy: Tensor, cx: Tensor, size: tuple[int, int]) -> Tensor:
    """Zero a ``size`` rectangle centred at (``cy[n]``, ``cx[n]``) (rows from cy - size//2) of each sample."""
    _, _, h, w = x.shape
    top, left = cy[:, None] - size[0] // 2, cx[:, None] - size[1] // 2
    rows, cols = torch.arange(h)[None], torch.arange(w)[None]
    in_rows, in_cols = (rows >= top) & (rows < top + size[0]), (cols >= left) & (cols < left + size[1])
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return x * keep[:, None].to(x.device, x.dtype)


def cutout(x: Tensor, generator: torch.Generator) -> Tensor:
    """Zero a square of half the image size at a random place of each sample (it may stick out of the image)."""
    n, _, h, w = x.shape
    size = (int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5))
    cy = torch.randint(0, h + (1 - size[0] % 2), (n,), generator=generator)
    cx = torch.randint(0, w + (1 - size[1] % 2), (n,), generator=generator)
    return cut(x, cy, cx, size)


# One op per name of gan.names.GAN_AUGMENTATIONS, in application order.
AUGMENT_OPS: dict[str, Callable[[Tensor, torch.Generator], Tensor]] = {"color": color, "translation": translation, "cutout": cutout}


def augment(x: Tensor, names: list[str], p: float, generator: torch.Generator) -> Tensor:
    """``x`` with each sample augmented by the ops ``names`` with probability ``p``; ``x`` itself when none is."""
    if not names or p <= 0:
        return x
    chosen = torch.rand(x.shape[0], generator=generator) < p
    if not bool(chosen.any()):  # a CPU tensor: no device sync
        return x
    y = x
    for name in GAN_AUGMENTATIONS:
        if name in names:
            y = AUGMENT_OPS[name](y, generator)
    return y if bool(chosen.all()) else torch.where(chosen.view(-1, 1, 1, 1).to(x.device), y, x)


def ada_update(p: float, r_t: float, target: float, adjust: float) -> float:
    """StyleGAN2-ADA's step: ``p + sign(r_t - target) * adjust``, clamped to [0, 1]."""
    step = (r_t > target) - (r_t < target)
    return min(max(p + step * adjust, 0.0), 1.0)


class Augmentation(Stateful):
    """This process's augmentation of D's inputs: the policy, its generator and the (adaptive) probability.

    With an empty policy it is the identity (``x`` itself) and has no state.

    Args:
        a: the ``augment`` section of the run's config.
        seed: seed of this process's generator.
        images_per_step: real images D sees per step over all processes (the adaptive p's speed).
        reduce: sums a tensor over the processes (``accelerator.reduce``); called at ADA updates only.
    """

    def __init__(self, a: AugmentConfig, seed: int, images_per_step: int, reduce: Callable[[Tensor], Tensor],
                 device: Any = "cpu") -> None:
        self.names, self.p, self.target, self.interval = a.names(), a.p, a.target, a.interval
        self.enabled, self.adaptive = bool(self.names), bool(self.names) and a.target > 0
        self.adjust = images_per_step * a.interval / (a.speed_kimg * 1000)
        self.generator = torch.Generator().manual_seed(seed)
        self.reduce = reduce
        # [sum of sign(D(real)), count] since the last update, and of the step in progress (kept on the device).
        self.signs = torch.zeros(2, device=device)
        self.pending = torch.zeros(2, device=device)

    def __call__(self, x: Tensor) -> Tensor:
        return augment(x, self.names, self.p, self.generator) if self.enabled else x

    def observe(self, real_logits: Tensor) -> None:
        """Count the signs of D's logits of real images (for the adaptive p)."""
        if self.adaptive:
            logits = real_logits.detach().float()
            self.pending += torch.stack([logits.sign().sum(), torch.tensor(float(logits.numel()), device=logits.device)])

    def end_step(self, step: int, ok: bool) -> dict[str, float]:
        """After the step that makes the counter ``step``: keep its observations (``ok``) and update p every ``interval`` steps.

        Returns the values to log: ``aug_p`` and, at updates, the estimate ``aug_rt``.
        """
        if not self.enabled:
            return {}
        if ok:
            self.signs += self.pending
        self.pending.zero_()
        out = {"aug_p": self.p}
        if ok and self.adaptive and step % self.interval == 0:
            total = self.reduce(self.signs).tolist()  # the only host read, every `interval` steps
            r_t = total[0] / max(total[1], 1.0)
            self.p = ada_update(self.p, r_t, self.target, self.adjust)
            self.signs.zero_()
            out = {"aug_p": self.p, "aug_rt": r_t}
        return out

    # ---- state ------------------------------------------------------------------------------

    def state_tensors(self) -> dict[str, Tensor]:
        """The adaptive p (the same on every process)."""
        return {"augment.p": torch.tensor([self.p], dtype=torch.float64)} if self.adaptive else {}

    def load_state_tensors(self, tensors: dict[str, Tensor]) -> None:
        if not self.adaptive:
            return
        if "augment.p" not in tensors:
            raise CheckpointError("the checkpoint has no adaptive augmentation probability ('augment.p'); cannot resume with augment.target > 0")
        self.p = float(tensors["augment.p"][0])

    def rng_tensors(self) -> dict[str, Tensor]:
        """Per-process state: the generator and this process's sign sums since the last update."""
        if not self.enabled:
            return {}
        return {"augment": self.generator.get_state(), "augment.signs": self.signs.cpu()}

    def load_rng_tensors(self, tensors: dict[str, Tensor]) -> None:
        if not self.enabled:
            return
        if "augment" not in tensors or "augment.signs" not in tensors:
            raise CheckpointError("the checkpoint has no augmentation RNG state ('augment'); cannot resume exactly with augment.policy set")
        self.generator.set_state(tensors["augment"])
        self.signs.copy_(tensors["augment.signs"])


def build_augmentation(cfg: GANConfig, accelerator: Any, images_per_step: int) -> Augmentation:
    """The augmentation of this process, seeded from ``train.seed`` and the process index (:mod:`gan.engine.streams`).
    """
    seed = stream_seed(cfg.train.seed, accelerator.process_index, "augment")
    return Augmentation(cfg.augment, seed, images_per_step, lambda t: accelerator.reduce(t, "sum"), accelerator.device)
