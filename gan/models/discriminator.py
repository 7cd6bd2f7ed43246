"""Convolutional discriminator mirroring the decoder; its blocks also form the segmentation encoder."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from .blocks import BASE_RESOLUTION, dcgan_init, down_blocks, num_doublings, stage_features
from .conditioning import D_CONDITIONINGS, ClassProjection, check_cond, check_labels, insert_attention


def encoder_widths(ndf: int, stages: int, max_channels: int) -> list[int]:
    """Channels of each downsampling stage, narrowest first: ndf, 2*ndf, ... (capped)."""
    return [min(ndf * 2**i, max_channels) for i in range(stages)]


class Discriminator(nn.Module):
    """Strided conv stack from ``resolution`` down to 4x4, then a 4x4 conv to one logit per image.

    ``norm``: ``batch`` (DCGAN), ``spectral`` (spectral norm on every conv) or ``none``. The first
    block never has BatchNorm, as in DCGAN. Returns raw logits (no sigmoid).
    With ``num_classes`` > 0 it also takes class labels ``c``; ``cond='projection'`` adds
    ``<embed(c), sum_xy h>`` of the last block's features ``h`` to the logit (``none``: labels
    checked, not used). ``attention`` lists block output resolutions that get a self-attention block.
    """

    def __init__(
        self,
        channels: int = 3,
        resolution: int = 64,
        ndf: int = 64,
        max_channels: int = 512,
        norm: str = "batch",
        num_classes: int = 0,
        cond: str = "none",
        attention: Sequence[int] = (),
    ) -> None:
        super().__init__()
        check_cond(cond, list(D_CONDITIONINGS), num_classes, "Discriminator")
        self.num_classes, self.cond = num_classes, cond
        self.channels, self.resolution = channels, resolution
        stages = num_doublings(resolution)
        self.work_resolution = BASE_RESOLUTION * 2**stages
        self.stage_channels = encoder_widths(ndf, stages, max_channels)
        # As in DCGAN, the first block has no BatchNorm (spectral norm applies to every conv).
        first_norm = "spectral" if norm == "spectral" else "none"
        self.blocks = down_blocks(channels, self.stage_channels, norm, first_norm)
        out = nn.Conv2d(self.stage_channels[-1], 1, BASE_RESOLUTION, 1, 0)
        self.out = spectral_norm(out) if norm == "spectral" else out
        resolutions = [self.work_resolution // 2 ** (i + 1) for i in range(stages)]
        insert_attention(self.blocks, resolutions, self.stage_channels, attention, norm == "spectral", "Discriminator")
        dcgan_init(self)
        if cond == "projection":  # after dcgan_init, which would not touch it anyway: its own init
            self.projection = ClassProjection(num_classes, self.stage_channels[-1], norm == "spectral")

    def check_input(self, x: torch.Tensor) -> None:
        expected = (self.channels, self.resolution, self.resolution)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"Discriminator expects images (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every block, highest resolution first (resolutions work_res/2, ..., 4)."""
        if x.shape[-1] != self.work_resolution or x.shape[-2] != self.work_resolution:
            x = F.interpolate(x, size=(self.work_resolution,) * 2, mode="bilinear", align_corners=False)
        return stage_features(self.blocks, x)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """One logit per image of ``x``; a conditional model also needs class indices ``c`` (N,)."""
        self.check_input(x)
        check_labels(c, self.num_classes, x.shape[0], "Discriminator")
        h = self.features(x)[-1]
        logits = self.out(h).flatten()
        return logits + self.projection(h, c) if self.cond == "projection" else logits
