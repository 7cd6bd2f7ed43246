"""Image grids without torchvision: importing it pulls in ``torch._dynamo`` (seconds of start-up), and a
training run only needs it for its sample grids. The layout matches ``torchvision.utils.make_grid``
(``padding`` pixels of black around every tile, ``nrow`` tiles per row, grayscale shown as RGB).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def grid_uint8(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """Images ``(N, C, H, W)`` in [-1, 1] (C = 1 or 3) -> one ``(rows, cols, 3)`` uint8 array."""
    images = images.detach().float().cpu().clamp(-1, 1).add(1).div(2)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    n, _, h, w = images.shape
    padding = padding if n > 1 else 0  # one image is written as it is, as make_grid does
    cols = min(nrow or max(1, math.ceil(math.sqrt(n))), n)
    rows = math.ceil(n / cols)
    grid = torch.zeros(3, rows * (h + padding) + padding, cols * (w + padding) + padding)
    for i, image in enumerate(images):
        y, x = (i // cols) * (h + padding) + padding, (i % cols) * (w + padding) + padding
        grid[:, y:y + h, x:x + w] = image
    # The rounding of torchvision's save_image: x * 255 + 0.5, truncated.
    return grid.mul(255).add(0.5).clamp(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()


def write_png(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 ``(H, W, 3)`` array as a PNG, atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-" + path.name)
    Image.fromarray(array).save(tmp, format="png")
    tmp.replace(path)
    return path
