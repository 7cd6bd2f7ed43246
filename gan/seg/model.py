"""SegmentationModel: encoder -> the generator's DeconvDecoder (with skip fusion) -> class head.

Layout for a working size S = 4 * 2^n (the smallest such size >= ``resolution``)::

    image S x S --encoder--> features at its strides, the last one (stride S/4) the bottleneck
    bottleneck 4x4 --1x1 adapter--> the generator's decoder input width (so its weights fit)
    DeconvDecoder stages 8, 16, ..., S/2, each fused with the encoder feature of its resolution
    (when the encoder has one: a timm backbone may skip strides, e.g. ConvNeXt has none at 2)
    head: x2 upsampling to S, fused with a full-resolution stem of the image, 1x1 classifier

At S x S the decoder starts from a 4x4 grid exactly as in the generator. Every layer is
convolutional, so any other input (non-square frames, crops) is padded (replicate) to a multiple of
the encoder's stride S / 4, run whole (the bottleneck is then h x w instead of 4x4, the skips still
meet their decoder stages at equal sizes) and the logits are cropped back to the input size.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..formats import SEGMENTER
from ..models import DeconvDecoder, SkipFusion, UpBlock
from ..models.blocks import BASE_RESOLUTION, num_doublings, stage_widths
from ..models.pretrained import HubModel
from ..names import SEGMENTATION_TASK
from .encoders import build_encoder

MIN_HEAD_WIDTH = 8


class SegHead(nn.Module):
    """Last x2 upsampling to full size, fusion with a full-resolution image stem, per-pixel classifier."""

    def __init__(self, in_ch: int, image_ch: int, num_classes: int, upsample: str, norm: str, fusion: str) -> None:
        super().__init__()
        width = max(in_ch // 2, MIN_HEAD_WIDTH)  # full-resolution layers dominate the cost: keep them narrow
        self.up = UpBlock(in_ch, width, upsample, norm)
        self.stem = nn.Sequential(nn.Conv2d(image_ch, width, 3, 1, 1), nn.ReLU(inplace=True)) if fusion != "none" else None
        self.fuse = SkipFusion(width, width, fusion) if fusion != "none" else None
        self.classify = nn.Sequential(
            nn.Conv2d(width, width, 3, 1, 1, bias=norm != "batch"),
            nn.BatchNorm2d(width) if norm == "batch" else nn.Identity(),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, num_classes, 1),
        )

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if self.fuse is not None:
            x = self.fuse(x, self.stem(image))
        return self.classify(x)


def tiled(fn: Any, x: torch.Tensor, tile: int) -> torch.Tensor:
    """Apply ``fn`` (tile x tile -> same-size maps) to any ``x``: pad, split into tiles, stitch, crop."""
    n, c, h, w = x.shape
    rows, cols = math.ceil(h / tile), math.ceil(w / tile)
    x = F.pad(x, (0, cols * tile - w, 0, rows * tile - h), mode="replicate")  # replicate: no fake edges
    tiles = x.view(n, c, rows, tile, cols, tile).permute(0, 2, 4, 1, 3, 5).reshape(n * rows * cols, c, tile, tile)
    out = fn(tiles)
    k = out.shape[1]
    out = out.view(n, rows, cols, k, tile, tile).permute(0, 3, 1, 4, 2, 5).reshape(n, k, rows * tile, cols * tile)
    return out[..., :h, :w]


class SegmentationModel(nn.Module, HubModel, tags=["segmenter"]):
    """Per-pixel class logits ``(N, num_classes, H, W)`` for images ``(N, channels, H, W)`` of any size.

    Args:
        num_classes: output classes.
        channels: image channels.
        resolution: working size (rounded up to 4 * 2^n); inputs of other sizes are tiled.
        ngf: decoder width, as the generator's ``ngf`` (weight transfer needs the same value).
        ndf: conv-encoder width, as the discriminator's ``ndf``.
        max_channels: channel cap of encoder and decoder, as in the GAN.
        upsample: decoder upsampling mode (``transposed`` | ``resize_conv`` | ``pixel_shuffle``).
        norm: ``batch`` | ``none``.
        fusion: how encoder skips enter the decoder: ``none | add | average | weighted | concat``.
        encoder: ``conv`` (discriminator layout), ``resnet18`` | ``resnet34`` | ``resnet50`` (torchvision) or a timm model name.
        encoder_weights: ``none`` (random), ``imagenet`` or a state-dict file (ResNet and timm encoders).

    ``SegmentationModel.from_pretrained`` loads a hub folder, a run or a Hub repo id
    (:class:`~gan.models.pretrained.HubModel`).
    """

    export_kind = SEGMENTER
    import_from = "gan.seg.model"

    def __init__(
        self,
        num_classes: int,
        channels: int = 3,
        resolution: int = 64,
        ngf: int = 32,
        ndf: int = 32,
        max_channels: int = 256,
        upsample: str = "transposed",
        norm: str = "batch",
        fusion: str = "add",
        encoder: str = "conv",
        encoder_weights: str = "none",
    ) -> None:
        super().__init__()
        if resolution < 16:
            raise ValueError(f"SegmentationModel needs resolution >= 16, got {resolution}")
        n = num_doublings(resolution)
        self.num_classes, self.channels, self.resolution = num_classes, channels, resolution
        self.work_resolution = BASE_RESOLUTION * 2**n
        self.encoder = build_encoder(encoder, channels, resolution, ndf, max_channels, norm, encoder_weights)
        enc, strides = self.encoder.stage_channels, self.encoder.stage_strides
        if strides[-1] != self.work_resolution // BASE_RESOLUTION:
            raise ValueError(f"encoder ends at stride {strides[-1]}, expected {self.work_resolution // BASE_RESOLUTION}")
        dec_in = stage_widths(ngf, n, max_channels)[0]  # what the generator feeds its decoder
        self.adapter = nn.Sequential(
            nn.Conv2d(enc[-1], dec_in, 1, bias=norm != "batch"),
            nn.BatchNorm2d(dec_in) if norm == "batch" else nn.Identity(),
            nn.ReLU(inplace=True),
        )
        # Decoder stage i (output 8 * 2^i at size S) meets the encoder feature of stride S / (8 * 2^i), if there is one.
        index = {s: i for i, s in enumerate(strides)}
        self.skip_index = [index.get(self.work_resolution // (8 * 2**i)) for i in range(n - 1)]
        skip_channels = [None if j is None else enc[j] for j in self.skip_index]
        self.decoder = DeconvDecoder(dec_in, resolution, ngf, max_channels, upsample, norm, skip_channels, fusion)
        self.head = SegHead(self.decoder.out_channels, channels, num_classes, upsample, norm, fusion)

    def hub_task(self) -> tuple[str | None, list[str]]:
        """A segmenter is the Hub's image-segmentation task."""
        return SEGMENTATION_TASK, []

    def _forward_tile(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(x)
        skips = [None if j is None else feats[j] for j in self.skip_index]
        return self.head(self.decoder(self.adapter(feats[-1]), skips), x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"SegmentationModel expects images (N, {self.channels}, H, W), got {tuple(x.shape)}")
        stride = self.work_resolution // BASE_RESOLUTION
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % stride, -w % stride
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")  # replicate: no fake edges
        return self._forward_tile(x)[..., :h, :w]
