"""Convolutional discriminator mirroring the decoder; its blocks also form the segmentation encoder."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from .blocks import BASE_RESOLUTION, DownBlock, dcgan_init, num_doublings


def encoder_widths(ndf: int, stages: int, max_channels: int) -> list[int]:
    """Channels of each downsampling stage, narrowest first: ndf, 2*ndf, ... (capped)."""
    return [min(ndf * 2**i, max_channels) for i in range(stages)]


class Discriminator(nn.Module):
    """Strided conv stack from ``resolution`` down to 4x4, then a 4x4 conv to one logit per image.

    ``norm``: ``batch`` (DCGAN), ``spectral`` (spectral norm on every conv) or ``none``. The first
    block never has BatchNorm, as in DCGAN. Returns raw logits (no sigmoid).
    """

    def __init__(
        self,
        channels: int = 3,
        resolution: int = 64,
        ndf: int = 64,
        max_channels: int = 512,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        self.channels, self.resolution = channels, resolution
        stages = num_doublings(resolution)
        self.work_resolution = BASE_RESOLUTION * 2**stages
        self.stage_channels = encoder_widths(ndf, stages, max_channels)
        chans = [channels] + self.stage_channels
        first_norm = "spectral" if norm == "spectral" else "none"
        self.blocks = nn.ModuleList(
            DownBlock(chans[i], chans[i + 1], first_norm if i == 0 else norm) for i in range(stages)
        )
        out = nn.Conv2d(chans[-1], 1, BASE_RESOLUTION, 1, 0)
        self.out = spectral_norm(out) if norm == "spectral" else out
        dcgan_init(self)

    def check_input(self, x: torch.Tensor) -> None:
        expected = (self.channels, self.resolution, self.resolution)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"Discriminator expects images (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every block, highest resolution first (resolutions work_res/2, ..., 4)."""
        if x.shape[-1] != self.work_resolution or x.shape[-2] != self.work_resolution:
            x = F.interpolate(x, size=(self.work_resolution,) * 2, mode="bilinear", align_corners=False)
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.out(self.features(x)[-1]).flatten()
