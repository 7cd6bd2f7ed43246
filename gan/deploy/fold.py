"""An inference copy of a model: spectral norm and BatchNorm folded into plain conv weights.

Spectral norm (``torch.nn.utils.spectral_norm``) becomes a plain weight ``W / sigma`` computed once
from the stored power-iteration vectors ``u``, ``v`` (what an eval-mode forward uses), so exporters
see no power iteration. Each eval-mode BatchNorm2d that directly follows a convolution becomes part
of that convolution's weight and bias. The result computes the same function as the eval-mode
original (up to float rounding); exports are still checked against the original, not the copy.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import fuse_conv_bn_weights, remove_spectral_norm

CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def fold_spectral_norm(model: nn.Module) -> int:
    """Replace every spectral-normed weight of ``model`` by its eval-mode value; returns how many."""
    folded = 0
    for module in model.modules():
        # The old spectral_norm API keeps the raw weight as weight_orig and the vectors as weight_u/v.
        if hasattr(module, "weight_orig") and hasattr(module, "weight_u"):
            remove_spectral_norm(module)
            folded += 1
    return folded


def _target_conv(module: nn.Module) -> tuple[nn.Module, int] | None:
    """The conv a following BatchNorm folds into, and how many conv channels feed one BN channel.

    A conv itself (1), resize-conv ``Sequential(Upsample(nearest), Conv2d)`` (nearest upsampling
    commutes with a per-channel affine map) or ``Sequential(Conv2d, PixelShuffle(r))`` (r*r conv
    channels become one output channel).
    """
    if isinstance(module, CONVS):
        return module, 1
    if isinstance(module, nn.Sequential) and len(module) == 2:
        first, last = module[0], module[1]
        if isinstance(first, nn.Upsample) and first.mode == "nearest" and isinstance(last, nn.Conv2d):
            return last, 1
        if isinstance(first, nn.Conv2d) and isinstance(last, nn.PixelShuffle):
            return first, last.upscale_factor ** 2
    return None


@torch.no_grad()
def _fold_pair(conv_like: nn.Module, bn: nn.BatchNorm2d) -> bool:
    target = _target_conv(conv_like)
    if target is None or bn.running_mean is None or bn.running_var is None:
        return False
    conv, repeat = target

    def per_conv_channel(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.repeat_interleave(repeat)

    weight, bias = fuse_conv_bn_weights(
        conv.weight, conv.bias, per_conv_channel(bn.running_mean), per_conv_channel(bn.running_var), bn.eps,
        per_conv_channel(bn.weight), per_conv_channel(bn.bias), transpose=isinstance(conv, nn.ConvTranspose2d),
    )
    conv.weight = nn.Parameter(weight.detach())
    conv.bias = nn.Parameter(bias.detach())
    return True


def _pairs(parent: nn.Module) -> list[tuple[str, str]]:
    """(conv child, BatchNorm child) names of ``parent`` where the BN consumes exactly that conv's output.

    Only layouts whose data flow is known: consecutive items of a Sequential, the toolkit's blocks
    (``conv`` -> ``norm``) and torchvision ResNets (``convN`` -> ``bnN``).
    """
    children = dict(parent.named_children())
    if isinstance(parent, nn.Sequential):
        names = list(children)
        return [(a, b) for a, b in zip(names, names[1:])]
    pairs = [("conv", "norm")] + [(f"conv{i}", f"bn{i}") for i in range(1, 4)]
    return [(a, b) for a, b in pairs if a in children and b in children]


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every foldable eval-mode BatchNorm2d into its conv (the BN becomes Identity); returns how many."""
    folded = 0
    for parent in list(model.modules()):
        for conv_name, bn_name in _pairs(parent):
            conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)  # Sequential items too ("0", "1")
            if isinstance(bn, nn.BatchNorm2d) and _fold_pair(conv, bn):
                setattr(parent, bn_name, nn.Identity())
                folded += 1
    return folded


def inference_copy(model: nn.Module) -> tuple[nn.Module, dict[str, int]]:
    """A deep copy of ``model`` in eval mode with spectral norm and BatchNorm folded; returns ``(copy, counts)``."""
    # A spectral-normed module keeps its last computed weight as a non-leaf tensor, which deepcopy
    # refuses; it is recomputed from weight_orig, u and v anyway, so copy a detached value.
    memo = {id(m.weight): m.weight.detach().clone() for m in model.modules() if hasattr(m, "weight_orig") and isinstance(getattr(m, "weight", None), torch.Tensor)}
    out = copy.deepcopy(model, memo).eval().requires_grad_(False)
    counts = {"spectral_norm": fold_spectral_norm(out), "batchnorm": fold_batchnorm(out)}
    return out, counts
