"""DCGAN generator: latent projection -> DeconvDecoder -> tanh image head."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import BASE_RESOLUTION, dcgan_init, num_doublings, stage_widths, upsample_conv
from .decoder import DeconvDecoder


class Generator(nn.Module):
    """Maps latents ``(N, nz)`` to images ``(N, channels, resolution, resolution)`` in [-1, 1].

    Sizes that are not 4*2^k (e.g. 28) are produced at the next such size and resized down.
    """

    def __init__(
        self,
        nz: int = 100,
        channels: int = 3,
        resolution: int = 64,
        ngf: int = 64,
        max_channels: int = 512,
        upsample: str = "transposed",
        norm: str = "batch",
    ) -> None:
        super().__init__()
        self.nz, self.channels, self.resolution = nz, channels, resolution
        stages = num_doublings(resolution)
        in_ch = stage_widths(ngf, stages, max_channels)[0]
        # A 4x4 transposed conv on a 1x1 latent is the DCGAN projection (a linear layer in disguise).
        self.project = nn.Sequential(
            nn.ConvTranspose2d(nz, in_ch, BASE_RESOLUTION, 1, 0, bias=False),
            nn.BatchNorm2d(in_ch) if norm == "batch" else nn.Identity(),
            nn.ReLU(inplace=True),
        )
        self.decoder = DeconvDecoder(in_ch, resolution, ngf, max_channels, upsample, norm)
        self.head = nn.Sequential(upsample_conv(self.decoder.out_channels, channels, upsample), nn.Tanh())
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        if z.shape[1:] != (self.nz, 1, 1):
            raise ValueError(f"Generator expects latents of shape (N, {self.nz}), got {tuple(z.shape)}")
        x = self.head(self.decoder(self.project(z)))
        if x.shape[-1] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", antialias=True, align_corners=False)
        return x
