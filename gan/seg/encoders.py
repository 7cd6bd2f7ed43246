"""Segmentation encoders: the discriminator's strided conv stack, a torchvision ResNet, or any timm model.

Each returns a list of features, highest resolution first, with their channels and strides in
``stage_channels`` / ``stage_strides``; the last one has the bottleneck stride S / 4 of a
``work_resolution`` S = 4 * 2^n input, so it is 4x4 like the generator's latent grid. ``conv`` and
the ResNets give every stride 2, 4, ..., S / 4; a timm backbone gives its own (see
:mod:`gan.seg.timm_encoder`). ``backbone()`` is the part that pretrained weights fill, which the
fine-tuning options (``optim.encoder_lr_mult``, ``model.encoder_bn``, ``transfer.freeze_encoder_steps``) act on.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..names import SEG_ENCODERS
from ..models.blocks import DownBlock, down_blocks, num_doublings, stage_features
from ..models.discriminator import encoder_widths
from .resnet_weights import load_resnet_weights
from .encoder_names import timm_problem, weights_given
from .timm_encoder import TimmEncoder

RESNET_STRIDES = 5  # stem (2), layer1 (4), layer2 (8), layer3 (16), layer4 (32)
RESNETS = tuple(n for n in SEG_ENCODERS if n.startswith("resnet"))  # torchvision's, not timm's


class ConvEncoder(nn.Module):
    """The discriminator's blocks without its logit layer: keys ``blocks.<i>.*`` match a Discriminator's."""

    def __init__(self, channels: int, resolution: int, ndf: int, max_channels: int, norm: str = "batch") -> None:
        super().__init__()
        stages = num_doublings(resolution)
        self.stage_channels = encoder_widths(ndf, stages, max_channels)
        # As in the discriminator (and DCGAN), the first block has no normalisation.
        self.blocks = down_blocks(channels, self.stage_channels, norm)
        self.stage_strides = [2 ** (i + 1) for i in range(stages)]
        self.weights_report = ""

    def backbone(self) -> list[nn.Module]:
        """All blocks (a discriminator's, with ``transfer.encoder``)."""
        return [self.blocks]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return stage_features(self.blocks, x)


class ResNetEncoder(nn.Module):
    """A torchvision ResNet cut into stride-2 stages; extra :class:`DownBlock` s go below stride 32."""

    def __init__(self, name: str, channels: int, resolution: int, weights: str = "", max_channels: int = 512, norm: str = "batch") -> None:
        super().__init__()
        from torchvision.models import get_model

        net = get_model(name, weights=None)
        self.weights_report = f"model.encoder_weights: {name} weights from '{load_resnet_weights(net, weights, name)}'" if weights_given(weights) else ""
        if channels != 3:  # keep pretrained filters usable: sum them over RGB for grey input
            rgb = net.conv1.weight.detach()
            net.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
            with torch.no_grad():
                net.conv1.weight.copy_(rgb.sum(1, keepdim=True).repeat(1, channels, 1, 1) / channels)
        stages = num_doublings(resolution)
        all_stages = [
            nn.Sequential(net.conv1, net.bn1, net.relu),
            nn.Sequential(net.maxpool, net.layer1),
            net.layer2, net.layer3, net.layer4,
        ]
        widths = [64] + [_out_channels(layer) for layer in (net.layer1, net.layer2, net.layer3, net.layer4)]
        self.stages = nn.ModuleList(all_stages[:stages])
        self.stage_channels = widths[:stages]
        self.num_backbone = len(self.stages)
        for _ in range(stages - RESNET_STRIDES):
            out = min(self.stage_channels[-1], max_channels)
            self.stages.append(DownBlock(self.stage_channels[-1], out, norm))
            self.stage_channels.append(out)
        self.stage_strides = [2 ** (i + 1) for i in range(stages)]

    def backbone(self) -> list[nn.Module]:
        """The ResNet's stages (not the extra DownBlocks below stride 32)."""
        return list(self.stages[: self.num_backbone])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return stage_features(self.stages, x)


def _out_channels(layer: nn.Sequential) -> int:
    """Output channels of a ResNet layer (BasicBlock or Bottleneck)."""
    last = layer[-1]
    return (last.bn3 if hasattr(last, "bn3") else last.bn2).num_features


def build_encoder(kind: str, channels: int, resolution: int, ndf: int, max_channels: int, norm: str, weights: str = "none") -> nn.Module:
    """``conv`` (discriminator layout), ``resnet18|34|50`` (torchvision) or a timm model name."""
    problem = timm_problem(kind)
    if problem:
        raise ConfigError(f"config key 'model.encoder': got {kind!r}, expected {problem}")
    if kind == "conv":
        if weights_given(weights):
            raise ConfigError("model.encoder_weights is only for ResNet and timm encoders; the conv encoder loads a discriminator via transfer.encoder")
        return ConvEncoder(channels, resolution, ndf, max_channels, norm)
    if kind in RESNETS:
        return ResNetEncoder(kind, channels, resolution, weights, max_channels, norm)
    return TimmEncoder(kind, channels, 2 ** num_doublings(resolution), weights, max_channels, norm)  # bottleneck stride S / 4
