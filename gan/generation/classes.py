"""Class-conditional GAN training: resolving ``model.num_classes`` and the per-class sample grid."""
from __future__ import annotations

from typing import Sequence

import torch

from ..config import DataConfig
from ..errors import ConfigError
from .config import ModelConfig
from .sampling import latents_for_seeds

GRID_MAX_CLASSES = 10  # rows of the fixed-noise grid of a conditional model (the first classes)
GRID_MAX_PER_CLASS = 8  # columns: samples per class, one latent per column shared by every row


def resolve_num_classes(model: ModelConfig, data: DataConfig, label_names: Sequence[str]) -> int:
    """The class count of the models: 0, or the dataset's (``auto`` or an explicit count that must match it)."""
    setting = model.num_classes
    if setting == 0:
        return 0
    found = len(label_names)
    if not found:
        source = f"data.name={data.name}" + (f" with data.labels={data.labels}" if data.name == "image_folder" else "")
        raise ConfigError(
            f"config key 'model.num_classes': got {setting!r}, but {source} has no class labels; set data.labels=folders "
            "(data.name=image_folder, one subfolder per class) or use a labelled torchvision dataset (mnist, fashion_mnist, cifar10, lsun)"
        )
    if setting != "auto" and setting != found:
        raise ConfigError(f"config key 'model.num_classes': got {setting!r}, but the dataset has {found} classes; set it to {found} or auto")
    return found


def class_grid_inputs(num_classes: int, num_samples: int, nz: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Latents, labels and row length of a per-class grid: one row per class (at most 10), same seeds in every row.

    Samples per class: ``num_samples // classes shown``, between 1 and 8. Deterministic (seeds 0, 1, ...).
    """
    shown = min(num_classes, GRID_MAX_CLASSES)
    per_class = max(1, min(GRID_MAX_PER_CLASS, num_samples // shown))
    latents = latents_for_seeds(range(per_class), nz).repeat(shown, 1)
    labels = torch.arange(shown).repeat_interleave(per_class)
    return latents, labels, per_class
