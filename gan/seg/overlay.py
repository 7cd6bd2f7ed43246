"""Overlay PNGs: image | ground truth | prediction per row, with a colour legend of the classes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

IGNORE_COLOR = (0, 0, 0)
FIG_ROW_INCHES = 2.2


def class_palette(num_classes: int) -> np.ndarray:
    """``(num_classes, 3)`` uint8 colours from matplotlib's tab20 (tab10 spacing for few classes)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if num_classes <= 10 else "tab20"]
    return (np.array([cmap(i % cmap.N)[:3] for i in range(num_classes)]) * 255).astype(np.uint8)


def palette_for(class_names: list[str] | tuple[str, ...]) -> np.ndarray:
    """A dataset's own colours when the classes are its own (CamVid), else :func:`class_palette`."""
    from .data import CAMVID_CLASSES, CAMVID_PALETTE

    if tuple(class_names) == CAMVID_CLASSES:
        return np.array(CAMVID_PALETTE, dtype=np.uint8)
    return class_palette(len(class_names))


def colorize(mask: torch.Tensor, palette: np.ndarray, ignore_index: int) -> np.ndarray:
    """Label map ``(H, W)`` -> RGB ``(H, W, 3)``; ignored pixels black."""
    m = mask.cpu().numpy()
    out = np.zeros(m.shape + (3,), dtype=np.uint8)
    valid = (m != ignore_index) & (m >= 0) & (m < len(palette))
    out[valid] = palette[m[valid]]
    out[~valid] = IGNORE_COLOR
    return out


def to_rgb(image: torch.Tensor) -> np.ndarray:
    """Image ``(C, H, W)`` in [-1, 1] -> uint8 ``(H, W, 3)``."""
    x = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte()
    x = x.expand(3, -1, -1) if x.shape[0] == 1 else x
    return x.permute(1, 2, 0).numpy()


def save_overlay(images: torch.Tensor, masks: torch.Tensor, preds: torch.Tensor, class_names: list[str], ignore_index: int, path: Path, title: str = "") -> Path:
    """Write the comparison figure to ``path`` (atomically) and return it; ``masks`` and ``preds`` may
    be lists of label maps of another size than the images (native-size evaluation)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    palette = palette_for(class_names)
    rows = len(images)
    fig, axes = plt.subplots(rows, 3, figsize=(3 * FIG_ROW_INCHES, rows * FIG_ROW_INCHES + 0.8), squeeze=False)
    for r in range(rows):
        panels = (to_rgb(images[r]), colorize(masks[r], palette, ignore_index), colorize(preds[r], palette, ignore_index))
        for c, (panel, name) in enumerate(zip(panels, ("image", "ground truth", "prediction"))):
            axes[r, c].imshow(panel, interpolation="nearest")
            axes[r, c].set_axis_off()
            if r == 0:
                axes[r, c].set_title(name, fontsize=9)
    handles = [Patch(color=palette[i] / 255, label=n) for i, n in enumerate(class_names)]
    handles.append(Patch(color=np.array(IGNORE_COLOR) / 255, label=f"ignore ({ignore_index})"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-" + path.name)
    fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    tmp.replace(path)
    return path
