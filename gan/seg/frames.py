"""Whole-frame evaluation helpers: batches whose masks may differ in size (native-size scoring),
logits scored against masks of their own size, and overlay images spread over the evaluation set."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from .metrics import confusion_matrix

Masks = torch.Tensor | list[torch.Tensor]


def collate_frames(items: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, Masks]:
    """Stack the images (all at the configured size); stack the masks too, or keep a list when their sizes differ."""
    images = torch.stack([image for image, _ in items])
    masks = [mask for _, mask in items]
    if all(m.shape == masks[0].shape for m in masks):
        return images, torch.stack(masks)
    return images, masks


def labels_at_mask_size(logits: torch.Tensor, masks: Masks) -> list[torch.Tensor]:
    """Per item, the argmax of its logits after bilinear upsampling to its mask's size (if it differs)."""
    preds = []
    for i, mask in enumerate(masks):
        item = logits[i : i + 1].float()
        if item.shape[-2:] != mask.shape[-2:]:
            item = F.interpolate(item, size=tuple(mask.shape[-2:]), mode="bilinear", align_corners=False)
        preds.append(item.argmax(1)[0])
    return preds


def frame_confusion(logits: torch.Tensor, masks: Masks, num_classes: int, ignore_index: int) -> torch.Tensor:
    """Confusion matrix of a batch: every labelled pixel of every mask counted once, at the mask's size."""
    if isinstance(masks, torch.Tensor) and logits.shape[-2:] == masks.shape[-2:]:
        return confusion_matrix(logits.argmax(1), masks, num_classes, ignore_index)
    total = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=logits.device)
    for pred, mask in zip(labels_at_mask_size(logits, masks), masks):
        total += confusion_matrix(pred, mask.to(logits.device), num_classes, ignore_index)
    return total


def spread_indices(n: int, k: int) -> list[int]:
    """``k`` indices evenly spaced over ``0..n-1``, first and last included (all of them when ``k >= n``)."""
    if k >= n:
        return list(range(n))
    if k <= 1:
        return [0] * k
    return [i * (n - 1) // (k - 1) for i in range(k)]


@torch.no_grad()
def overlay_samples(model: nn.Module, dataset: Dataset, count: int) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]] | None:
    """``(images, masks, predictions)`` of ``count`` items spread over ``dataset`` (consecutive video
    frames would show one street several times); predictions at each mask's size."""
    indices = spread_indices(len(dataset), count)  # type: ignore[arg-type]
    if not indices:
        return None
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    items = [dataset[i] for i in indices]
    images = torch.stack([image for image, _ in items])
    masks = [mask for _, mask in items]
    preds = labels_at_mask_size(model(images.to(device)), masks)
    model.train(was_training)
    return images, masks, [p.cpu() for p in preds]
