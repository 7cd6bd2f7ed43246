"""Opening one image file safely: size limits checked from the header, high bit depths scaled.

Every reader of image files (GAN image folders, segmentation images, prediction inputs, demo
uploads) goes through :func:`open_image`, and segmentation masks (raw values, no scaling) through its
header check :func:`open_checked`, so they all share the same limits:

- **Size limits.** ``Image.open`` reads only the header; the size is checked before any pixel is
  decoded. An image over ``max_pixels`` pixels, or with one side more than
  :data:`MAX_ASPECT_RATIO` times the other (a 1,000,000 x 1 PNG is 1 KB on disk but gigabytes once
  resized to the training resolution), raises :class:`ImageTooLarge`. PIL's own
  ``DecompressionBombError`` (raised at open for more than twice ``PIL.Image.MAX_IMAGE_PIXELS``,
  whatever ``max_pixels`` says) becomes :class:`ImageTooLarge` as well.
- **Bit depth.** 16-bit and 32-bit integer images (modes ``I;16*``, ``I``) and float images (``F``)
  are scaled by their real range before the 8-bit conversion; PIL's ``convert("L")`` would clip
  them (a mid-grey 16-bit pixel, 32768, would become 255).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import DataError

DEFAULT_MAX_PIXELS = 89_478_485  # PIL's own default Image.MAX_IMAGE_PIXELS (about 9459 x 9459)
MAX_ASPECT_RATIO = 64  # longer side / shorter side


class ImageTooLarge(ValueError):
    """An image whose header announces too many pixels or too elongated a shape (message without the path)."""


LIMIT_NAME = "data.max_image_pixels"  # the setting that a refusal names by default


def check_image_size(width: int, height: int, max_pixels: int, limit_name: str = LIMIT_NAME) -> None:
    """Raise :class:`ImageTooLarge` for ``width x height`` over ``max_pixels`` (set by ``limit_name``) or :data:`MAX_ASPECT_RATIO`."""
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} = {width * height} pixels is over the limit of {max_pixels} ({limit_name})")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageTooLarge(f"{width}x{height} pixels: one side is more than {MAX_ASPECT_RATIO} times the other")


def _unit_range(arr: np.ndarray, known_max: float) -> np.ndarray:
    """Values in [0, ``known_max``] divided by it; any other range stretched from its min to its max."""
    arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(arr.min()), float(arr.max())
    if lo >= 0.0 and hi <= known_max:
        return arr / known_max
    return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)


def to_8bit(im: Image.Image) -> Image.Image:
    """A high-bit-depth single-channel image as 8-bit ``L`` scaled by its real range; other modes unchanged.

    ``I;16*`` (and ``I`` holding 0..65535, e.g. a 16-bit PGM) are divided by 65535; ``F`` holding
    [0, 1] is kept as is; any other ``I``/``F`` range is stretched from its minimum to its maximum.
    """
    if im.mode.startswith("I;16") or im.mode == "I":
        unit = _unit_range(np.asarray(im), 65535.0)
    elif im.mode == "F":
        unit = _unit_range(np.asarray(im), 1.0)
    else:
        return im
    return Image.fromarray(np.round(unit * 255.0).astype(np.uint8), mode="L")


def open_image(path: str | Path, channels: int, max_pixels: int = DEFAULT_MAX_PIXELS, limit_name: str = LIMIT_NAME) -> Image.Image:
    """Decode ``path`` as an 8-bit ``L`` (``channels=1``) or ``RGB`` image, detached from the file.

    Raises :class:`ImageTooLarge` (a ``ValueError``) before decoding when the header's size is over
    the limits (``limit_name``: the setting of ``max_pixels`` that its message names), and ``OSError``
    for unreadable files, as PIL does.
    """
    with open_checked(path, max_pixels, limit_name) as im:
        im.load()  # decode fully now so truncated files fail here
        return to_8bit(im).convert("L" if channels == 1 else "RGB")


def open_checked(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, limit_name: str = LIMIT_NAME) -> Image.Image:
    """``Image.open(path)`` (header only, nothing decoded) once its size passes :func:`check_image_size`.

    The one size check of every image reader, masks included (they keep their raw values, so they
    cannot go through :func:`open_image`). Raises :class:`ImageTooLarge` (the file is closed) or
    ``OSError`` as PIL does.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below with our own limit
        try:
            im = Image.open(path)
        except Image.DecompressionBombError as err:
            raise ImageTooLarge(f"too large to decode: {err} (PIL's own limit; {limit_name} is {max_pixels})") from None
    try:
        check_image_size(im.width, im.height, max_pixels, limit_name)
    except ImageTooLarge:
        im.close()
        raise
    return im


def read_image_tensor(path: str | Path, channels: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """``open_image`` as a float tensor ``(channels, H, W)`` in [-1, 1]; any failure is a one-line ``DataError`` naming the file."""
    try:
        arr = np.array(open_image(path, channels, max_pixels), dtype=np.float32)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read image '{path}': {err}") from None
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return torch.from_numpy(arr) / 127.5 - 1.0
