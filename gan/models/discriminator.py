"""Convolutional discriminator mirroring the decoder; its blocks also form the segmentation encoder."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from .blocks import BASE_RESOLUTION, dcgan_init, down_blocks, num_doublings, stage_features


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
        # As in DCGAN, the first block has no BatchNorm (spectral norm applies to every conv).
        first_norm = "spectral" if norm == "spectral" else "none"
        self.blocks = down_blocks(channels, self.stage_channels, norm, first_norm)
        out = nn.Conv2d(self.stage_channels[-1], 1, BASE_RESOLUTION, 1, 0)
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
        return stage_features(self.blocks, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.out(self.features(x)[-1]).flatten()
