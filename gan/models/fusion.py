"""Fusion of an encoder skip feature into a decoder stage (used by the segmentation model)."""
from __future__ import annotations

import torch
from torch import nn

from ..names import FUSION_MODES


class SkipFusion(nn.Module):
    """Fuse ``skip`` (``skip_ch`` channels) into ``x`` (``out_ch`` channels) at the same resolution.

    The skip is first projected to ``out_ch`` with a 1x1 conv, so every mode keeps the decoder's own
    channel counts and weights transferred from a generator still fit.
    ``weighted`` learns two logits per stage, normalised with a softmax.
    """

    def __init__(self, skip_ch: int, out_ch: int, mode: str) -> None:
        super().__init__()
        if mode not in FUSION_MODES or mode == "none":
            raise ValueError(f"fusion mode {mode!r} is not one of {', '.join(FUSION_MODES[1:])}")
        self.mode = mode
        self.project = nn.Conv2d(skip_ch, out_ch, 1)
        if mode == "weighted":
            self.logits = nn.Parameter(torch.zeros(2))
        if mode == "concat":
            self.merge = nn.Conv2d(2 * out_ch, out_ch, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        skip = self.project(skip)
        if self.mode == "add":
            return x + skip
        if self.mode == "average":
            return 0.5 * (x + skip)
        if self.mode == "weighted":
            w = torch.softmax(self.logits, dim=0)
            return w[0] * x + w[1] * skip
        return self.merge(torch.cat([x, skip], dim=1))
