"""The deconvolution decoder: the upsampling stack shared by the generator and segmentation model."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .blocks import BASE_RESOLUTION, UpBlock, num_doublings, stage_widths
from .fusion import SkipFusion


class DeconvDecoder(nn.Module):
    """Stack of x2 upsampling blocks from ``in_channels`` x 4x4 to half the output size.

    The layers are convolutional, so a larger ``h x w`` input grid (a non-square frame's bottleneck in
    the segmentation model) gives ``h * 2^k x w * 2^k`` outputs with the same weights.

    The final x2 step to the full output size belongs to the head that owns the output channels
    (the generator's tanh image head or the segmentation class head), which is exactly the DCGAN
    layout: for 64x64, 4 -> 8 -> 16 -> 32 here, 32 -> 64 in the head.

    Args:
        in_channels: channels of the 4x4 input.
        out_resolution: resolution of the final output (8..256, any integer).
        width: channels of the last decoder stage; earlier stages double it (capped).
        max_channels: cap on any stage's channel count.
        upsample: ``transposed`` | ``resize_conv`` | ``pixel_shuffle``.
        norm: ``batch`` | ``none``.
        skip_channels: optional channels of a skip feature per stage (None for no skip there).
        fusion: how skips are fused (see :class:`SkipFusion`); ignored without skips.

    Attributes:
        stage_channels: output channels of each stage, in order.
        stage_resolutions: output resolution of each stage, in order.
        out_channels: channels of the last stage (what a head wires to).
    """

    def __init__(
        self,
        in_channels: int,
        out_resolution: int,
        width: int = 64,
        max_channels: int = 512,
        upsample: str = "transposed",
        norm: str = "batch",
        skip_channels: Sequence[int | None] | None = None,
        fusion: str = "none",
    ) -> None:
        super().__init__()
        n_stages = num_doublings(out_resolution) - 1  # the head does the last doubling
        self.in_channels = in_channels
        self.out_resolution = out_resolution
        self.stage_channels = stage_widths(width, n_stages, max_channels)
        self.stage_resolutions = [BASE_RESOLUTION * 2 ** (i + 1) for i in range(n_stages)]
        chans = [in_channels] + self.stage_channels
        self.stages = nn.ModuleList(UpBlock(chans[i], chans[i + 1], upsample, norm) for i in range(n_stages))
        self.fusions = nn.ModuleDict()
        if skip_channels is not None and fusion != "none":
            if len(skip_channels) != n_stages:
                raise ValueError(f"skip_channels has {len(skip_channels)} entries, the decoder has {n_stages} stages")
            for i, ch in enumerate(skip_channels):
                if ch is not None:
                    self.fusions[str(i)] = SkipFusion(ch, self.stage_channels[i], fusion)

    @property
    def out_channels(self) -> int:
        return self.stage_channels[-1] if self.stage_channels else self.in_channels

    def forward(self, x: torch.Tensor, skips: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"DeconvDecoder expects input (N, {self.in_channels}, h, w) (4 x 4 in a generator), got {tuple(x.shape)}"
            )
        for i, stage in enumerate(self.stages):
            x = stage(x)
            key = str(i)
            if skips is not None and key in self.fusions and skips[i] is not None:
                x = self.fusions[key](x, skips[i])
        return x
