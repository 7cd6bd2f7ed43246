"""DCGAN generator: latent projection -> DeconvDecoder -> tanh image head."""
from __future__ import annotations

import contextlib
from typing import Sequence

import torch
from torch import nn

from ..formats import GENERATOR
from ..names import CONDITIONAL_TAG, UNCONDITIONAL_TASK
from .blocks import BASE_RESOLUTION, AntialiasedResize, dcgan_init, num_doublings, stage_widths, upsample_conv
from .conditioning import G_CONDITIONINGS, ClassAffine, ClassContext, LatentClassEmbedding, check_cond, check_labels, insert_attention
from .decoder import DeconvDecoder
from .pretrained import HubModel


class Generator(nn.Module, HubModel, tags=["generator", "gan"]):
    """Maps latents ``(N, nz)`` to images ``(N, channels, resolution, resolution)`` in [-1, 1].

    Sizes that are not 4*2^k (e.g. 28) are produced at the next such size and resized down.
    With ``num_classes`` > 0 it also takes class labels ``c`` (see :mod:`gan.models.conditioning`:
    ``cond`` = ``embed`` | ``cbn`` | ``none``); ``attention`` lists decoder-stage output resolutions
    that get a self-attention block. ``Generator.from_pretrained`` loads a hub folder, a run or a Hub
    repo id (:class:`~gan.models.pretrained.HubModel`).
    """

    export_kind = GENERATOR
    import_from = "gan.models"

    def __init__(
        self,
        nz: int = 100,
        channels: int = 3,
        resolution: int = 64,
        ngf: int = 64,
        max_channels: int = 512,
        upsample: str = "transposed",
        norm: str = "batch",
        num_classes: int = 0,
        cond: str = "none",
        attention: Sequence[int] = (),
    ) -> None:
        super().__init__()
        check_cond(cond, list(G_CONDITIONINGS), num_classes, "Generator")
        if cond == "cbn" and norm != "batch":
            raise ValueError("Generator cond='cbn' replaces the decoder's BatchNorm: it needs norm='batch'")
        self.nz, self.channels, self.resolution = nz, channels, resolution
        self.num_classes, self.cond = num_classes, cond
        stages = num_doublings(resolution)
        in_ch = stage_widths(ngf, stages, max_channels)[0]
        if cond == "embed":
            self.class_embed = LatentClassEmbedding(num_classes, nz)
        # A 4x4 transposed conv on a 1x1 latent is the DCGAN projection (a linear layer in disguise).
        self.project = nn.Sequential(
            nn.ConvTranspose2d(nz, in_ch, BASE_RESOLUTION, 1, 0, bias=False),
            nn.BatchNorm2d(in_ch) if norm == "batch" else nn.Identity(),
            nn.ReLU(inplace=True),
        )
        self.decoder = DeconvDecoder(in_ch, resolution, ngf, max_channels, upsample, norm)
        if cond == "cbn":
            self.class_context = ClassContext()
            self.class_norm = ClassAffine(num_classes, self.decoder.stage_channels)
            self.class_norm.swap_norms(self.decoder.stages, self.class_context)
        insert_attention(self.decoder.stages, self.decoder.stage_resolutions, self.decoder.stage_channels, attention, False, "Generator")
        self.head = nn.Sequential(upsample_conv(self.decoder.out_channels, channels, upsample), nn.Tanh())
        work = BASE_RESOLUTION * 2**stages
        self.resize = AntialiasedResize(work, resolution) if work != resolution else nn.Identity()
        dcgan_init(self)

    def hub_task(self) -> tuple[str | None, list[str]]:
        """No Hub pipeline takes a class label: a conditional generator has a tag instead."""
        return (None, [CONDITIONAL_TAG]) if self.num_classes else (UNCONDITIONAL_TASK, [])

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Images for latents ``z`` (N, nz) and, for a conditional model, class indices ``c`` (N,)."""
        if z.dim() == 2:
            z = z[:, :, None, None]
        if z.shape[1:] != (self.nz, 1, 1):
            raise ValueError(f"Generator expects latents of shape (N, {self.nz}), got {tuple(z.shape)}")
        check_labels(c, self.num_classes, z.shape[0], "Generator")
        if self.cond == "embed":
            z = self.class_embed(z, c)
        # cbn: the decoder stages read this call's class gamma/beta from the shared context.
        labelled = self.class_context.given(self.class_norm(c)) if self.cond == "cbn" else contextlib.nullcontext()
        with labelled:
            x = self.head(self.decoder(self.project(z)))
        return self.resize(x)  # an Identity when the decoder's size is the resolution
