"""Inputs in the form torch-fidelity wants: uint8 ``(N, 3, H, W)`` images, never via PNG files.

Generated images come from a :class:`GeneratorSource` (a ``GenerativeModelBase`` that turns
torch-fidelity's latent batches into uint8 images on the fly through :func:`gan.models.generate.generate`,
the toolkit's one way to call a generator); already generated image tensors
and real datasets come as :class:`UInt8Images`. Both check for a requested stop (a preemption
signal during training) before each batch/item, so a long evaluation ends within one batch.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset
from torch_fidelity import GenerativeModelBase
from tqdm.auto import tqdm

from ..data.images import image_of
from ..models.generate import generate, to_uint8_rgb
from ..process.stop import raise_if_stop_requested


class GeneratorSource(GenerativeModelBase):
    """A generator ``z -> [-1, 1] images`` as torch-fidelity input, with an optional progress bar.

    ``classes`` > 0: a conditional generator, called as ``generator(z, c)`` with ``c`` drawn uniformly
    over the classes from a generator seeded by ``seed``, or always ``label`` when that is given.
    """

    def __init__(self, generator: nn.Module, nz: int, progress: tqdm | None = None, classes: int = 0, seed: int = 0,
                 label: int | None = None) -> None:
        super().__init__()
        self.generator, self.nz, self.progress = generator, nz, progress
        self.classes, self.label = classes, label
        self.label_rng = torch.Generator().manual_seed(seed)

    @property
    def z_size(self) -> int:
        return self.nz

    @property
    def z_type(self) -> str:
        return "normal"

    @property
    def num_classes(self) -> int:
        # Labels are drawn in forward(): torch-fidelity's own conditional path uses np.int (gone since NumPy 1.24).
        return 0

    def labels_for(self, count: int) -> torch.Tensor:
        """The class indices of the next ``count`` images."""
        if self.label is not None:
            return torch.full((count,), self.label, dtype=torch.long)
        return torch.randint(self.classes, (count,), generator=self.label_rng)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        raise_if_stop_requested()
        labels = self.labels_for(z.shape[0]) if self.classes else None
        images = generate(self.generator, z, len(z), labels=labels, uint8=True, keep_on_device=True)
        if self.progress is not None:
            self.progress.update(images.shape[0])
        return images


class UInt8Images(Dataset):
    """A dataset of [-1, 1] images (or an ``(N, C, H, W)`` tensor of them) as uint8 RGB items."""

    def __init__(self, images: Dataset | torch.Tensor, progress: tqdm | None = None) -> None:
        self.images, self.progress = images, progress
        self.reads = 0  # items served

    def __len__(self) -> int:
        return len(self.images)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> torch.Tensor:
        raise_if_stop_requested()
        image = image_of(self.images[index])
        self.reads += 1
        if self.progress is not None and self.reads <= len(self):  # torch-fidelity peeks at item 0 once more
            self.progress.update(1)
        return to_uint8_rgb(image.unsqueeze(0))[0]


def image_shape(item: Any) -> tuple[int, ...]:
    """``(C, H, W)`` of a dataset item."""
    return tuple(image_of(item).shape)
