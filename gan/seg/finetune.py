"""Fine-tuning the encoder backbone: its own learning rate, a frozen warm-up, and BatchNorm for small batches.

- ``optim.encoder_lr_mult``: the optimizer always has two parameter groups, the encoder backbone
  (``encoder.backbone()``) and everything else, so the multiplier may change on resume; each group
  carries its ``lr_mult`` and the task sets ``lr = optim.lr * lr_mult * schedule(step)`` every step.
- ``transfer.freeze_encoder_steps``: for steps ``< N`` the backbone runs in eval mode (its BatchNorm
  statistics stay) and its gradients are dropped before the optimizer step (AdamW then leaves the
  weights, and their decay, alone). It depends on the step counter only, so a resumed run continues exactly.
- ``model.encoder_bn=frozen``: the backbone's BatchNorm layers always run in eval mode with their
  affine parameters fixed. ImageNet statistics come from batches of 256; re-estimating them from
  batches of 4-8 segmentation crops makes them noisy, and normalising with them shifts every
  pretrained feature. ``auto`` freezes them exactly when the encoder starts from pretrained weights;
  random weights need trained statistics.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ..names import SEG_ENCODER_BN
from .encoder_names import weights_given

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)  # timm's BatchNormAct2d derives from BatchNorm2d


def resolve_bn_mode(mode: str, weights: str) -> str:
    """``train`` or ``frozen``: ``auto`` is frozen for pretrained weights (imagenet or a file)."""
    if mode not in SEG_ENCODER_BN:
        raise ValueError(f"model.encoder_bn must be one of {', '.join(SEG_ENCODER_BN)}, got {mode!r}")
    if mode == "auto":
        return "frozen" if weights_given(weights) else "train"
    return mode


def backbone_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters of ``model.encoder.backbone()`` (the pretrained part), each once."""
    seen: dict[int, nn.Parameter] = {}
    for module in model.encoder.backbone():
        for p in module.parameters():
            seen.setdefault(id(p), p)
    return list(seen.values())


def param_groups(model: nn.Module, lr: float, encoder_lr_mult: float) -> list[dict[str, Any]]:
    """Two AdamW groups: the encoder backbone at ``lr * encoder_lr_mult``, the rest at ``lr``."""
    backbone = backbone_parameters(model)
    ids = {id(p) for p in backbone}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [
        {"params": backbone, "lr": lr * encoder_lr_mult, "lr_mult": encoder_lr_mult, "name": "encoder"},
        {"params": rest, "lr": lr, "lr_mult": 1.0, "name": "other"},
    ]


class EncoderFineTune:
    """Applies ``model.encoder_bn`` and ``transfer.freeze_encoder_steps`` to a model's encoder backbone, step by step."""

    def __init__(self, model: nn.Module, bn_mode: str, freeze_steps: int) -> None:
        self.backbone = list(model.encoder.backbone())
        self.freeze_steps = freeze_steps
        self.params = backbone_parameters(model)
        self.frozen_bn = [m for b in self.backbone for m in b.modules() if isinstance(m, BATCH_NORMS)] if bn_mode == "frozen" else []
        for bn in self.frozen_bn:
            for p in bn.parameters(recurse=False):  # affine weight and bias: kept as loaded
                p.requires_grad_(False)

    def frozen(self, step: int) -> bool:
        """Whether the whole backbone is frozen at ``step`` (the warm-up)."""
        return step < self.freeze_steps

    def set_modes(self, step: int) -> None:
        """Call after ``model.train()``: eval mode for the frozen backbone / the frozen BatchNorm layers."""
        for module in self.backbone if self.frozen(step) else self.frozen_bn:
            module.eval()

    def drop_grads(self, step: int) -> None:
        """Call before the optimizer step: during the warm-up the backbone gets no update."""
        if self.frozen(step):
            for p in self.params:
                p.grad = None
