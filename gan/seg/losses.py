"""Segmentation losses: (weighted) cross-entropy + optional soft Dice; median-frequency class weights."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

DICE_EPS = 1.0  # smoothing of the soft Dice ratio (in pixels), keeps empty classes finite


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """1 - mean over classes of the soft Dice score; ignored pixels count for neither side."""
    num_classes = logits.shape[1]
    valid = (target != ignore_index).unsqueeze(1).float()
    probs = logits.float().softmax(1) * valid
    onehot = F.one_hot(target.clamp(0, num_classes - 1), num_classes).permute(0, 3, 1, 2).float() * valid
    dims = (0, 2, 3)
    inter, total = (probs * onehot).sum(dims), (probs + onehot).sum(dims)
    return 1 - ((2 * inter + DICE_EPS) / (total + DICE_EPS)).mean()


class SegLoss:
    """``cross_entropy(weight=class_weights) + dice_weight * soft_dice``; returns (loss, parts)."""

    def __init__(self, ignore_index: int, dice_weight: float = 0.0, class_weights: torch.Tensor | None = None) -> None:
        self.ignore_index, self.dice_weight, self.class_weights = ignore_index, dice_weight, class_weights

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        weight = self.class_weights.to(logits.device) if self.class_weights is not None else None
        ce = F.cross_entropy(logits.float(), target, weight=weight, ignore_index=self.ignore_index)
        parts = {"ce": ce.detach()}
        loss = ce
        if self.dice_weight > 0:
            dice = soft_dice_loss(logits, target, self.ignore_index)
            loss = loss + self.dice_weight * dice
            parts["dice"] = dice.detach()
        parts["loss"] = loss.detach()
        return loss, parts


def class_pixel_counts(dataset: Dataset, num_classes: int, ignore_index: int, max_images: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class: labelled pixels, and total pixels of the images where the class appears."""
    counts = torch.zeros(num_classes, dtype=torch.float64)
    present_in = torch.zeros(num_classes, dtype=torch.float64)
    for i in range(min(len(dataset), max_images)):  # type: ignore[arg-type]
        mask = dataset[i][1]
        valid = mask[mask != ignore_index]
        per_class = torch.bincount(valid.flatten(), minlength=num_classes).double()
        counts += per_class
        present_in += (per_class > 0).double() * valid.numel()
    return counts, present_in


def median_frequency_weights(counts: torch.Tensor, present_in: torch.Tensor) -> torch.Tensor:
    """SegNet's balancing: ``median(freq) / freq[c]`` with ``freq[c] = counts[c] / present_in[c]``.

    A class never seen gets weight 1 (it cannot be balanced from data it is absent from).
    """
    seen = counts > 0
    freq = torch.where(seen, counts / present_in.clamp(min=1), torch.zeros_like(counts))
    weights = torch.ones_like(counts)
    if seen.any():
        weights[seen] = torch.quantile(freq[seen], 0.5) / freq[seen]  # the true median (mean of the middle two)
    return weights.float()
