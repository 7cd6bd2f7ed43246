"""Image datasets for GAN training: shapes, torchvision datasets and generic image folders.

Every dataset yields ``(image, label)``: a float tensor ``(channels, resolution, resolution)``
scaled to [-1, 1] and an int class index, or :data:`NO_LABEL` when the data has no classes. A
dataset's ``label_names`` lists its classes (empty when unlabelled), so a conditional model can
take its class count from the data. Problems that would only surface mid-training (missing folder, no images, dataset not downloaded)
raise :class:`DataError` with one line before training starts.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ..config import DataConfig
from ..errors import DataError, first_line
from .cache import cached_dataset  # shapes are rendered once, images decoded once (unless data.cache=none)
from .decode import DEFAULT_MAX_PIXELS, open_image
from .subset import limit_dataset, limit_indices
from .shapes import SHAPE_NAMES, ShapesDataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


NO_LABEL = -1  # the label of an image whose dataset has no classes
Item = tuple[torch.Tensor, int]


def image_of(item: Any) -> torch.Tensor:
    """The image of a dataset item or batch that may also carry a label or a mask."""
    return item[0] if isinstance(item, (tuple, list)) else item


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
    """Every image below ``root``, recursively, whatever its size or mode, as ``(image, label)``.

    With ``labels='folders'`` the class of an image is its top-level subfolder below ``root``
    (classes sorted by name, as torchvision's ImageFolder); with ``labels='none'`` every label is
    :data:`NO_LABEL`.

    Unreadable files (truncated, empty, not an image) are skipped when ``on_bad_image='skip'``
    (the next readable image is returned instead), each path reported once on stderr across all
    dataloader workers; with ``on_bad_image='error'`` they raise :class:`DataError` naming the file.
    Images over ``max_pixels`` (or too elongated, see :mod:`gan.data.decode`) count as unreadable.
    """

    def __init__(self, root: str | Path, resolution: int, channels: int, on_bad_image: str = "skip", labels: str = "none",
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"data.root '{self.root}' is not a folder (data.name=image_folder needs a folder of images)")
        self.files = list_images(self.root)
        if not self.files:
            raise DataError(f"data.root '{self.root}' holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        self.label_names, self.labels = folder_labels(self.root, self.files) if labels == "folders" else ([], [NO_LABEL] * len(self.files))
        self.resolution = resolution
        self.transform: Callable[[Image.Image], torch.Tensor] | None = None  # built at the first decode: a cached run needs none
        self.on_bad_image = on_bad_image
        self.channels, self.max_pixels = channels, max_pixels
        self.bad = BadImageRegistry(len(self.files))

    def __len__(self) -> int:
        return len(self.files)

    def keep_only(self, indices: list[int]) -> "ImageFolder":
        """Keep only the files at ``indices`` (class names unchanged), in place; returns ``self``.

        The folder itself shrinks (rather than being wrapped) so that an unreadable file is replaced by
        the next readable one of the subset and the cache's bad-file bookkeeping indexes the subset.
        """
        self.files = [self.files[i] for i in indices]
        self.labels = [self.labels[i] for i in indices]
        self.bad = BadImageRegistry(len(self.files))
        return self

    def _load(self, path: Path) -> torch.Tensor:
        if self.transform is None:
            self.transform = image_transform(self.resolution, self.channels)
        return self.transform(open_image(path, self.channels, self.max_pixels))

    def __getitem__(self, index: int) -> Item:
        for offset in range(len(self.files)):
            i = (index + offset) % len(self.files)
            if self.bad.is_bad(i):
                continue
            try:
                return self._load(self.files[i]), self.labels[i]
            except (OSError, UnidentifiedImageError, ValueError) as err:
                self._on_bad(i, err)
        raise DataError(f"no image under '{self.root}' could be read")

    def _on_bad(self, i: int, err: Exception) -> None:
        path = self.files[i]
        if self.on_bad_image == "error":
            raise DataError(f"cannot read image '{path}': {err} (set data.on_bad_image=skip to skip such files)")
        if self.bad.mark(i):
            report_skipped(f"skipping unreadable image '{path}': {err}")


def folder_labels(root: Path, files: list[Path]) -> tuple[list[str], list[int]]:
    """Class names (sorted top-level subfolders) and each file's class index, for ``data.labels=folders``."""
    loose = [f for f in files if f.parent == root]
    if loose:
        raise DataError(f"data.labels=folders needs every image in a class subfolder of data.root '{root}', but '{loose[0]}' is not")
    classes = [f.relative_to(root).parts[0] for f in files]
    names = sorted(set(classes))
    index = {name: i for i, name in enumerate(names)}
    return names, [index[c] for c in classes]


class Labelled(Dataset):
    """``(image, label)`` items of a dataset, with ``label_names``.

    ``classes`` names the classes when the wrapped dataset's targets are class indices (torchvision's
    MNIST, CIFAR-10, LSUN); otherwise (None: shapes, CelebA's attribute vectors) labels are NO_LABEL.
    """

    def __init__(self, dataset: Dataset, classes: list[str] | None) -> None:
        self.dataset, self.label_names = dataset, list(classes or [])

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Item:
        item = self.dataset[index]
        if not self.label_names:
            return image_of(item), NO_LABEL
        return item[0], int(item[1])


def _tv(name: str) -> Callable[..., Dataset]:
    """A torchvision dataset class, imported when used (torchvision.datasets is slow to import)."""
    def build(cfg: DataConfig, **kwargs: Any) -> Dataset:
        from torchvision import datasets

        return getattr(datasets, name)(cfg.root, **kwargs)

    return build


# torchvision datasets by toolkit name: (class, how the config selects the split).
TORCHVISION_DATASETS: dict[str, Callable[[DataConfig, Any], Dataset]] = {
    "mnist": lambda cfg, tf: _tv("MNIST")(cfg, train=cfg.split == "train", transform=tf, download=cfg.download),
    "fashion_mnist": lambda cfg, tf: _tv("FashionMNIST")(cfg, train=cfg.split == "train", transform=tf, download=cfg.download),
    "cifar10": lambda cfg, tf: _tv("CIFAR10")(cfg, train=cfg.split == "train", transform=tf, download=cfg.download),
    "celeba": lambda cfg, tf: _tv("CelebA")(cfg, split=cfg.split, transform=tf, download=cfg.download),
    "lsun": lambda cfg, tf: _tv("LSUN")(cfg, classes=cfg.lsun_classes.split(","), transform=tf),
}


def _torchvision_dataset(cfg: DataConfig) -> Dataset:
    root = cfg.root
    try:
        dataset = TORCHVISION_DATASETS[cfg.name](cfg, image_transform(cfg.resolution, cfg.channels))
    except ImportError as err:  # torchvision's LSUN reader needs lmdb, which is not a dependency
        raise DataError(f"dataset '{cfg.name}' needs the Python package '{err.name}': pip install {err.name}") from None
    except (RuntimeError, FileNotFoundError, OSError) as err:
        hint = "" if cfg.name == "lsun" else " (set data.download=true to download it)"
        first = first_line(err)
        raise DataError(f"dataset '{cfg.name}' not found under data.root '{root}'{hint}: {first}") from None
    classes = None if cfg.name == "celeba" else list(getattr(dataset, "classes", []))
    return Labelled(dataset, classes)


def _check_no_labels(cfg: DataConfig) -> None:
    if cfg.labels != "none":
        raise DataError(f"data.labels={cfg.labels} is for data.name=image_folder; '{cfg.name}' brings its own labels")


def _shapes(cfg: DataConfig) -> Dataset:
    _check_no_labels(cfg)
    single = cfg.shapes_max == 1  # one shape per image: its class is the image's label
    shapes = ShapesDataset(cfg.shapes_size, cfg.resolution, cfg.channels, cfg.shapes_seed, max_shapes=cfg.shapes_max, labelled=single,
                           background=cfg.shapes_background, radius=tuple(cfg.shapes_radius),
                           antialias=cfg.shapes_antialias, rotate=cfg.shapes_rotate)
    return cached_dataset(cfg, limit_dataset(cfg, Labelled(shapes, list(SHAPE_NAMES) if single else None)))


def _image_folder(cfg: DataConfig) -> Dataset:
    folder = ImageFolder(cfg.root, cfg.resolution, cfg.channels, cfg.on_bad_image, cfg.labels, cfg.max_image_pixels)
    if cfg.limit:
        folder.keep_only(limit_indices(len(folder), cfg.limit, cfg.limit_seed))
    return cached_dataset(cfg, folder, folder.files)


def _torchvision(cfg: DataConfig) -> Dataset:
    _check_no_labels(cfg)
    return cached_dataset(cfg, limit_dataset(cfg, _torchvision_dataset(cfg)))


# One builder per name of gan.names.IMAGE_DATASETS.
DATASET_BUILDERS: dict[str, Callable[[DataConfig], Dataset]] = {
    "shapes": _shapes,
    "image_folder": _image_folder,
    **{name: _torchvision for name in TORCHVISION_DATASETS},
}


def build_image_dataset(cfg: DataConfig) -> Dataset:
    """The image dataset named by ``cfg.name``, yielding ``(image in [-1, 1], label)`` with ``label_names``."""
    return DATASET_BUILDERS[cfg.name](cfg)
