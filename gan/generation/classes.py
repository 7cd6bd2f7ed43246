"""Class-conditional GAN training: resolving ``model.num_classes``."""
from __future__ import annotations

from typing import Sequence

from ..config import DataConfig
from ..errors import ConfigError
from .config import ModelConfig


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

