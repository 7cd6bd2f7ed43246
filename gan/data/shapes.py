"""Procedural shapes: filled circles, squares and triangles on textured (or plain) backgrounds, with masks.

Every image is a pure function of ``(seed, index, resolution)``, so the dataset needs no download,
no disk, and is identical on every machine and worker. Each image comes with a per-pixel class mask
(0 background, 1 circle, 2 square, 3 triangle); later shapes occlude earlier ones in both.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from ..names import SHAPES_BACKGROUNDS, SHAPES_RADIUS

CLASS_NAMES = ("background", "circle", "square", "triangle")
PALETTE = np.array(
    [[230, 40, 40], [40, 200, 60], [50, 90, 235], [245, 215, 40], [220, 60, 220], [40, 215, 225], [250, 140, 30], [245, 245, 245]],
    dtype=np.float32,
)
MAX_SHAPES = 3
# The first corner's angle of an upright shape (y grows downwards): an axis-aligned square, a triangle pointing up.
UPRIGHT = {2: np.pi / 4, 3: -np.pi / 2}
SUPERSAMPLE = 4  # antialiased shapes: coverage from SUPERSAMPLE x SUPERSAMPLE points a pixel
SHAPE_NAMES = CLASS_NAMES[1:]  # labels of one-shape images (max_shapes=1)


def _textured(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """A dim two-colour gradient with faint stripes and pixel noise (the 'texture')."""
    c0, c1 = rng.uniform(0, 110, size=(2, 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * xx + np.sin(angle) * yy + 1) / 2  # 0..1 along a random direction
    img = c0 + (c1 - c0) * t[..., None]
    freq, phase = rng.uniform(3, 9), rng.uniform(0, 2 * np.pi)
    stripes = np.sin(freq * np.pi * (np.sin(angle) * xx - np.cos(angle) * yy) + phase)
    img += 12 * stripes[..., None] + rng.normal(0, 6, size=img.shape).astype(np.float32)
    return img


def _plain(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """One dim colour everywhere."""
    return np.broadcast_to(rng.uniform(0, 110, size=3).astype(np.float32), (*xx.shape, 3)).copy()


# One background per name of gan.names.SHAPES_BACKGROUNDS, with the pixel noise (std) of the shapes drawn on it:
# shapes on a plain background are flat too.
BACKGROUNDS: dict[str, tuple[Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray], float]] = {
    "textured": (_textured, 4.0),
    "plain": (_plain, 0.0),
}


def _polygon(xx: np.ndarray, yy: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Pixels inside a convex polygon whose vertices are given counter-clockwise."""
    inside = np.ones_like(xx, dtype=bool)
    for (x0, y0), (x1, y1) in zip(pts, np.roll(pts, -1, axis=0)):
        inside &= (x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0) >= 0
    return inside


def _shape_mask(kind: int, rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray, radius_range: tuple[float, float],
                rotate: bool = True) -> np.ndarray:
    radius = rng.uniform(*radius_range)
    cx, cy = rng.uniform(-1 + radius * 0.7, 1 - radius * 0.7, size=2)
    if kind == 1:
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
    corners = 4 if kind == 2 else 3
    rot = rng.uniform(0, 2 * np.pi)  # drawn either way, so an upright shape keeps the centre and colour it would have rotated
    if not rotate:
        rot = UPRIGHT[kind]
    angles = rot + 2 * np.pi * np.arange(corners) / corners
    pts = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)
    return _polygon(xx, yy, pts)


def _grid(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(yy, xx) of the pixel centres of a ``resolution`` square in [-1, 1]."""
    coords = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution * 2 - 1
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    return yy, xx


def render_shapes(seed: int, index: int, resolution: int, max_shapes: int = MAX_SHAPES, background: str = "textured",
                  radius: tuple[float, float] = SHAPES_RADIUS, antialias: bool = False, rotate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(image uint8 HxWx3, mask uint8 HxW)`` for one sample of 1..``max_shapes`` shapes.

    ``radius`` is the range of each shape's circumradius as a fraction of half the image side.
    ``antialias`` blends each shape's colour by the fraction of the pixel it covers (the mask takes
    the pixels it covers at least half of); otherwise a pixel is the shape's when its centre is.
    ``rotate=False`` draws squares axis-aligned and triangles pointing up (fewer poses to learn).
    """
    if background not in BACKGROUNDS:
        raise ValueError(f"shapes background {background!r} is not one of {', '.join(SHAPES_BACKGROUNDS)}")
    rng = np.random.default_rng([seed, index])
    yy, xx = _grid(resolution)
    fine = SUPERSAMPLE if antialias else 1
    fine_yy, fine_xx = _grid(resolution * fine)
    draw_background, fill_noise = BACKGROUNDS[background]
    img = draw_background(rng, yy, xx)
    mask = np.zeros((resolution, resolution), dtype=np.uint8)
    for _ in range(rng.integers(1, max_shapes + 1)):
        kind = int(rng.integers(1, len(CLASS_NAMES)))
        inside = _shape_mask(kind, rng, fine_xx, fine_yy, radius, rotate)
        cover = inside.reshape(resolution, fine, resolution, fine).mean(axis=(1, 3), dtype=np.float32)
        touched = cover > 0
        fill = PALETTE[rng.integers(len(PALETTE))] + rng.normal(0, fill_noise, size=(int(touched.sum()), 3))
        alpha = cover[touched][:, None]
        img[touched] = img[touched] * (1 - alpha) + fill * alpha
        mask[cover >= 0.5] = kind
    return np.clip(img, 0, 255).astype(np.uint8), mask


def to_tensor_image(img: np.ndarray, channels: int) -> torch.Tensor:
    """uint8 HxWx3 -> float (channels, H, W) in [-1, 1]; 1 channel uses ITU-R 601 luma."""
    if channels == 1:  # luma rounded to uint8, as PIL's convert("L"): the decoded-data cache then stores it exactly
        img = np.rint(img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None].astype(np.uint8)
    return torch.from_numpy(img).permute(2, 0, 1).float() / 127.5 - 1.0


class ShapesDataset(Dataset):
    """The embedded default dataset. Items are images, or ``(image, mask)`` with ``with_masks``.

    With ``max_shapes=1`` every image holds one shape, and ``(image, shape class)`` items
    (``labelled``; 0 circle, 1 square, 2 triangle: :data:`SHAPE_NAMES`) can condition a GAN.
    """

    num_classes = len(CLASS_NAMES)
    class_names = CLASS_NAMES

    def __init__(self, size: int = 10000, resolution: int = 32, channels: int = 3, seed: int = 0, with_masks: bool = False,
                 max_shapes: int = MAX_SHAPES, labelled: bool = False, background: str = "textured",
                 radius: tuple[float, float] = SHAPES_RADIUS, antialias: bool = False, rotate: bool = True) -> None:
        if labelled and max_shapes != 1:
            raise ValueError("labelled shapes need max_shapes=1 (one shape, one class per image)")
        self.size, self.resolution, self.channels, self.seed = size, resolution, channels, seed
        self.with_masks, self.max_shapes, self.labelled, self.background = with_masks, max_shapes, labelled, background
        self.radius, self.antialias, self.rotate = (float(radius[0]), float(radius[1])), antialias, rotate

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        if not 0 <= index < self.size:
            raise IndexError(index)
        img, mask = render_shapes(self.seed, index, self.resolution, self.max_shapes, self.background, self.radius, self.antialias,
                                  self.rotate)
        x = to_tensor_image(img, self.channels)
        if self.labelled:
            return x, int(mask.max()) - 1  # the one shape's class (it is never fully hidden)
        return (x, torch.from_numpy(mask).long()) if self.with_masks else x
