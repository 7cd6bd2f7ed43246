"""Image datasets for GAN training: shapes, torchvision datasets and generic image folders.

Every dataset yields float tensors ``(channels, resolution, resolution)`` scaled to [-1, 1].
Problems that would only surface mid-training (missing folder, no images, dataset not downloaded)
raise :class:`DataError` with one line before training starts.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Callable

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ..config import DataConfig
from .shapes import ShapesDataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


class DataError(ValueError):
    """A dataset problem, reported to the user as one line."""


class ConvertMode:
    """Convert a PIL image to ``mode`` (grayscale / RGBA / palette -> the configured channels).

    A class rather than a lambda so that dataloader workers can pickle it.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, im: Image.Image) -> Image.Image:
        return im.convert(self.mode)


def image_transform(resolution: int, channels: int) -> Callable[[Image.Image], torch.Tensor]:
    """PIL image (any mode, any size) -> resize shorter side, centre crop, [-1, 1] tensor."""
    from torchvision import transforms as T

    return T.Compose(
        [
            ConvertMode("L" if channels == 1 else "RGB"),
            T.Resize(resolution, antialias=True),
            T.CenterCrop(resolution),
            T.ToTensor(),
            T.Normalize([0.5] * channels, [0.5] * channels),
        ]
    )


def list_images(root: Path) -> list[Path]:
    """All image files below ``root`` (recursive), sorted for a stable order."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def report_skipped(message: str) -> None:
    """A warning in the main process; in a dataloader worker a line on stderr.

    A worker inherits the parent's warning filters and capture (e.g. pytest's recorder, whose
    records never come back), so there the line goes straight to the shared stderr.
    """
    from torch.utils.data import get_worker_info

    if get_worker_info() is None:
        warnings.warn(message, stacklevel=3)
    else:
        print(f"warning: {message}", file=sys.stderr, flush=True)


class BadImageRegistry:
    """Which files were found unreadable, shared by the main process and every dataloader worker.

    A shared-memory flag per file plus a lock: each bad path is reported exactly once per run, even
    when several workers meet it at the same time, and later hits skip it without decoding again.
    """

    def __init__(self, num_files: int) -> None:
        import torch.multiprocessing as mp

        self.flags = torch.zeros(num_files, dtype=torch.uint8).share_memory_()
        self.lock = mp.get_context().Lock()

    def is_bad(self, index: int) -> bool:
        return bool(self.flags[index])

    def mark(self, index: int) -> bool:
        """Flag file ``index`` as bad; True only for the first caller (who reports it)."""
        with self.lock:
            first = not bool(self.flags[index])
            self.flags[index] = 1
        return first


class ImageFolder(Dataset):
    """Every image below ``root``, recursively, whatever its size or mode.

    Unreadable files (truncated, empty, not an image) are skipped when ``on_bad_image='skip'``
    (the next readable image is returned instead), each path reported once on stderr across all
    dataloader workers; with ``on_bad_image='error'`` they raise :class:`DataError` naming the file.
    """

    def __init__(self, root: str | Path, resolution: int, channels: int, on_bad_image: str = "skip") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"data.root '{self.root}' is not a folder (data.name=image_folder needs a folder of images)")
        self.files = list_images(self.root)
        if not self.files:
            raise DataError(f"data.root '{self.root}' holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        self.transform = image_transform(resolution, channels)
        self.on_bad_image = on_bad_image
        self.bad = BadImageRegistry(len(self.files))

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, path: Path) -> torch.Tensor:
        with Image.open(path) as im:
            im.load()  # decode fully now so truncated files fail here
            return self.transform(im)

    def __getitem__(self, index: int) -> torch.Tensor:
        for offset in range(len(self.files)):
            i = (index + offset) % len(self.files)
            if self.bad.is_bad(i):
                continue
            try:
                return self._load(self.files[i])
            except (OSError, UnidentifiedImageError, ValueError) as err:
                self._on_bad(i, err)
        raise DataError(f"no image under '{self.root}' could be read")

    def _on_bad(self, i: int, err: Exception) -> None:
        path = self.files[i]
        if self.on_bad_image == "error":
            raise DataError(f"cannot read image '{path}': {err} (set data.on_bad_image=skip to skip such files)")
        if self.bad.mark(i):
            report_skipped(f"skipping unreadable image '{path}': {err}")


class ImagesOnly(Dataset):
    """Drop the labels of a torchvision ``(image, target)`` dataset."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.dataset[index][0]


def _torchvision_dataset(cfg: DataConfig) -> Dataset:
    from torchvision import datasets

    tf = image_transform(cfg.resolution, cfg.channels)
    root, dl, train = cfg.root, cfg.download, cfg.split == "train"
    builders: dict[str, Callable[[], Dataset]] = {
        "mnist": lambda: datasets.MNIST(root, train=train, transform=tf, download=dl),
        "fashion_mnist": lambda: datasets.FashionMNIST(root, train=train, transform=tf, download=dl),
        "cifar10": lambda: datasets.CIFAR10(root, train=train, transform=tf, download=dl),
        "celeba": lambda: datasets.CelebA(root, split=cfg.split, transform=tf, download=dl),
        "lsun": lambda: datasets.LSUN(root, classes=cfg.lsun_classes.split(","), transform=tf),
    }
    try:
        return ImagesOnly(builders[cfg.name]())
    except ImportError as err:  # torchvision's LSUN reader needs lmdb, which is not a dependency
        raise DataError(f"dataset '{cfg.name}' needs the Python package '{err.name}': pip install {err.name}") from None
    except (RuntimeError, FileNotFoundError, OSError) as err:
        hint = "" if cfg.name == "lsun" else " (set data.download=true to download it)"
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"dataset '{cfg.name}' not found under data.root '{root}'{hint}: {first}") from None


def build_image_dataset(cfg: DataConfig) -> Dataset:
    """The image dataset named by ``cfg.name``, yielding [-1, 1] tensors."""
    if cfg.name == "shapes":
        return ShapesDataset(cfg.shapes_size, cfg.resolution, cfg.channels, cfg.shapes_seed)
    from .cache import cached_dataset, torchvision_key  # decoded once, when data.cache is not none

    if cfg.name == "image_folder":
        folder = ImageFolder(cfg.root, cfg.resolution, cfg.channels, cfg.on_bad_image)
        return cached_dataset(cfg, folder, folder.files)
    return cached_dataset(cfg, _torchvision_dataset(cfg), torchvision_key(cfg))
