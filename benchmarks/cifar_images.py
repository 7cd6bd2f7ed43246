"""CIFAR-10 test images for the FID benchmarks (not a script): loading, disjoint halves, a degraded copy.

``../shared/data/cifar10-test`` holds the 10,000 test images as JPEGs (recompressed at about
quality 75 by the repository they come from), one folder per class. Images are read in a seeded
random order over all classes, so any first n images are a sample of the whole set.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "cifar10-test"
SUFFIXES = (".png", ".jpg", ".jpeg")


def image_files(folder: str | Path, seed: int = 0) -> list[Path]:
    """The images under ``folder`` (recursively), in a random order fixed by ``seed``."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in SUFFIXES)
    if not files:
        raise SystemExit(f"no images under '{folder}'")
    order = np.random.RandomState(seed).permutation(len(files))
    return [files[i] for i in order]


def load_uint8(files: list[Path]) -> torch.Tensor:
    """uint8 ``(N, 3, H, W)`` RGB images (all of one size, as CIFAR-10's 32x32)."""
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in files]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def down_up(images: torch.Tensor, low: int = 16) -> torch.Tensor:
    """Each image bilinearly downscaled to ``low`` px (antialiased) and back to its size, rounded to uint8: a blurred copy."""
    size = images.shape[-2:]
    x = F.interpolate(images.float(), size=(low, low), mode="bilinear", align_corners=False, antialias=True)
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


class Images(Dataset):
    """A uint8 image tensor as the Dataset torch-fidelity reads (one ``(3, H, W)`` uint8 tensor an item)."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]
