"""Inference: load a segmentation export and turn a folder of images into mask PNGs."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..data.decode import DEFAULT_MAX_PIXELS, read_image_tensor
from ..data.images import list_images
from ..errors import DataError
from ..formats import SEGMENTER, load_export
from ..formats.resolve import resolve_source
from ..outputs import check_output_folder
from .config import SegDataConfig
from .model import SegmentationModel
from .overlay import colorize, palette_for


def load_segmenter(path: str | Path, device: str | torch.device = "cpu") -> tuple[SegmentationModel, dict]:
    """Rebuild the model of a run (its ``best/`` or ``export/``), an export, checkpoint or hub folder or a Hub repo id, in eval mode."""
    model, meta = load_export(resolve_source(path), SEGMENTER, SegmentationModel, device=device)
    return model, meta  # type: ignore[return-value]


def read_image(path: str | Path, channels: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """An image file -> ``(1, channels, H, W)`` in [-1, 1] (16-bit images scaled by their bit depth)."""
    return read_image_tensor(path, channels, max_pixels)[None]


@torch.no_grad()
def predict_image(model: SegmentationModel, image: torch.Tensor, resolution: int, native: bool = False, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Label map ``(H, W)`` of one image at its own size.

    By default the image is resized as in training: to the training ``size`` ``(H, W)`` (whole
    frames, ``data.size``) if given, else so that its shorter side is ``resolution``; the logits are
    resized back bilinearly. ``native`` runs at the original size.
    """
    device = next(model.parameters()).device
    h, w = image.shape[-2:]
    x = image.to(device)
    target = size or (max(1, round(h * resolution / min(h, w))), max(1, round(w * resolution / min(h, w))))
    if not native and (h, w) != tuple(target):
        x = F.interpolate(x, size=tuple(target), mode="bilinear", antialias=True, align_corners=False)
    logits = model(x)
    if logits.shape[-2:] != (h, w):
        logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
    return logits.argmax(1)[0].cpu()


def class_names(meta: dict) -> list[str]:
    """The export's class names; a model saved from Python without them has ``class0``, ``class1``, ..."""
    return [str(n) for n in meta.get("class_names") or []] or [f"class{i}" for i in range(meta["model"]["num_classes"])]


def mask_values(meta: dict) -> list[int]:
    """Raw value written for each class: the training config's ``data.mask_values`` or the class index."""
    values = meta.get("config", {}).get("data", {}).get("mask_values") or []
    return [int(v) for v in values] or list(range(len(class_names(meta))))


def color_path(mask: Path) -> Path:
    """Where ``--color`` writes the coloured version of ``mask``."""
    return mask.with_name(mask.stem + "_color.png")


def predict_folder(model: SegmentationModel, meta: dict, in_dir: Path, out_dir: Path, native: bool = False, color: bool = False) -> Iterator[Path]:
    """Write ``<out_dir>/<stem>.png`` for every image below ``in_dir``; yields each written path.

    Before writing anything, refuses an ``out_dir`` that is or lies inside ``in_dir``, an output
    that would overwrite an input, and two inputs (``a.png``, ``a.jpg``) writing the same mask.
    """
    files = list_images(in_dir) if in_dir.is_dir() else []
    if not files:
        raise DataError(f"input '{in_dir}' is not a folder holding images")
    targets = [out_dir / f"{path.relative_to(in_dir).with_suffix('')}.png" for path in files]
    planned = list(zip(files, targets)) + ([(p, color_path(t)) for p, t in zip(files, targets)] if color else [])
    check_output_folder(out_dir, planned, inputs=files, protect=[in_dir])
    out_dir.mkdir(parents=True, exist_ok=True)
    lut = np.array(mask_values(meta), dtype=np.uint8)
    palette = palette_for(class_names(meta))
    resolution, channels = meta["model"]["resolution"], meta["model"]["channels"]
    data_cfg = meta.get("config", {}).get("data", {})
    max_pixels = data_cfg.get("max_image_pixels", DEFAULT_MAX_PIXELS)
    size = tuple(data_cfg["size"]) if data_cfg.get("size") else None  # trained on whole frames of this size
    for path, out in zip(files, targets):
        labels = predict_image(model, read_image(path, channels, max_pixels), resolution, native, size)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(lut[labels.numpy()]).save(out)
        if color:
            Image.fromarray(colorize(labels, palette, meta.get("ignore_index", SegDataConfig.ignore_index))).save(color_path(out))
        yield out
