"""Small building blocks shared by the decoder, generator, discriminator and segmentation model."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

BASE_RESOLUTION = 4  # every stack starts (decoder) or ends (discriminator) at 4x4


def num_doublings(resolution: int) -> int:
    """Number of x2 stages from 4x4 to the smallest power-of-two size >= ``resolution``."""
    if resolution < 8:
        raise ValueError(f"resolution {resolution} is too small: the smallest supported is 8")
    return math.ceil(math.log2(resolution / BASE_RESOLUTION))


def _transposed(in_ch: int, out_ch: int) -> nn.Module:
    return nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=False)  # the DCGAN layer


def _resize_conv(in_ch: int, out_ch: int) -> nn.Module:  # nearest upsample + conv: no checkerboard artifacts
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False))


def _pixel_shuffle(in_ch: int, out_ch: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch * 4, 3, 1, 1, bias=False), nn.PixelShuffle(2))


# One builder per name of gan.names.UPSAMPLE_MODES.
UPSAMPLE_BUILDERS: dict[str, Callable[[int, int], nn.Module]] = {
    "transposed": _transposed,
    "resize_conv": _resize_conv,
    "pixel_shuffle": _pixel_shuffle,
}


def upsample_conv(in_ch: int, out_ch: int, mode: str) -> nn.Module:
    """A layer that doubles the spatial size (``mode`` from :data:`UPSAMPLE_BUILDERS`)."""
    if mode not in UPSAMPLE_BUILDERS:
        raise ValueError(f"upsample mode {mode!r} is not one of {', '.join(UPSAMPLE_BUILDERS)}")
    return UPSAMPLE_BUILDERS[mode](in_ch, out_ch)


class AntialiasedResize(nn.Module):
    """Square images ``in_size`` -> ``out_size``: bilinear with antialiasing, as two matrix products.

    The weights are those of ``F.interpolate(mode="bilinear", antialias=True)`` (read off by resizing
    an identity matrix: the resize is linear and separable), but plain matmuls have what that
    operator lacks: a bfloat16 CPU kernel (bf16 training) and an ONNX export. The buffer is not
    persistent, so state dicts (checkpoints, exports) do not change. The output keeps the input's dtype.
    """

    def __init__(self, in_size: int, out_size: int) -> None:
        super().__init__()
        eye = torch.eye(in_size)[None, None]
        weights = F.interpolate(eye, size=(out_size, in_size), mode="bilinear", antialias=True, align_corners=False)[0, 0]
        self.register_buffer("weights", weights, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.weights.to(x.dtype)  # float32 unless autocast or a half-precision model asks otherwise
        return weights @ x @ weights.T


class UpBlock(nn.Module):
    """x2 upsampling conv -> norm -> ReLU -> ``extra`` (the unit of the deconvolution decoder).

    ``extra`` is a slot for a per-stage module such as self-attention or noise injection; unset it
    is an Identity, which has no parameters, so state-dict keys stay those of a plain block.
    """

    def __init__(self, in_ch: int, out_ch: int, mode: str = "transposed", norm: str = "batch", extra: nn.Module | None = None) -> None:
        super().__init__()
        self.conv = upsample_conv(in_ch, out_ch, mode)
        self.norm = nn.BatchNorm2d(out_ch) if norm == "batch" else nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.extra = extra if extra is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extra(self.act(self.norm(self.conv(x))))


class DownBlock(nn.Module):
    """Strided conv (k4 s2 p1) -> norm -> LeakyReLU(0.2) -> ``extra``: the unit of the discriminator and encoder.

    ``extra`` is the same parameter-free-when-unset slot as :class:`UpBlock`'s.
    """

    def __init__(self, in_ch: int, out_ch: int, norm: str = "batch", extra: nn.Module | None = None) -> None:
        super().__init__()
        conv = nn.Conv2d(in_ch, out_ch, 4, 2, 1, bias=norm != "batch")
        self.conv = spectral_norm(conv) if norm == "spectral" else conv
        self.norm = nn.BatchNorm2d(out_ch) if norm == "batch" else nn.Identity()
        self.act = nn.LeakyReLU(0.2, inplace=True)
        self.extra = extra if extra is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extra(self.act(self.norm(self.conv(x))))


def down_blocks(channels: int, widths: list[int], norm: str, first_norm: str = "none") -> nn.ModuleList:
    """A stack of :class:`DownBlock` s from ``channels`` through ``widths``; the first uses ``first_norm``."""
    chans = [channels] + widths
    return nn.ModuleList(DownBlock(chans[i], chans[i + 1], first_norm if i == 0 else norm) for i in range(len(widths)))


def stage_features(stages: nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
    """Run ``stages`` in order and return every stage's output."""
    feats = []
    for stage in stages:
        x = stage(x)
        feats.append(x)
    return feats


def stage_widths(base: int, stages: int, max_channels: int) -> list[int]:
    """Channel counts of ``stages`` stages, widest first: base*2^(n-1), ..., base*2, base (capped)."""
    return [min(base * 2 ** (stages - 1 - i), max_channels) for i in range(stages)]


@torch.no_grad()
def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), BatchNorm weights ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = getattr(m, "weight_orig", m.weight)  # spectral norm keeps the raw weight here
            nn.init.normal_(weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:  # conditional BatchNorm has no affine of its own
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
