"""Stand-ins for class-conditional generators (``forward(z, c)``) whose images say which label they got.

They follow the contract of the toolkit's conditional Generator (``num_classes`` > 0, labels as a
LongTensor ``(N,)``) so sampling and evaluation can be tested before and independently of it.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gan.formats import GENERATOR, load_export, write_export


def label_value(label: torch.Tensor) -> torch.Tensor:
    """The [-1, 1] value that encodes class ``label``: ``label / 10`` in [0, 1] (a classifier reads round(mean * 10))."""
    return label.float() / 10 * 2 - 1


class LabelPainter(nn.Module):
    """Channel 0 = the label (``label_value(c + offset)``, mod ``num_classes``), channel 1 = ``tanh(z[:, 0])``, channel 2 = -1.

    ``half_wrong``: every odd image of a batch is painted with the next label instead (half right).
    """

    def __init__(self, nz: int = 4, num_classes: int = 12, resolution: int = 8, offset: int = 0, half_wrong: bool = False) -> None:
        super().__init__()
        self.nz, self.num_classes, self.resolution = nz, num_classes, resolution
        self.offset, self.half_wrong = offset, half_wrong
        self.scale = nn.Parameter(torch.ones(()))  # a parameter, so callers can find the device

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        painted = c + self.offset
        if self.half_wrong:
            painted = painted + (torch.arange(len(c), device=c.device) % 2)
        painted = painted % self.num_classes
        out = torch.full((len(c), 3, self.resolution, self.resolution), -1.0, device=z.device)
        out[:, 0] = label_value(painted)[:, None, None] * self.scale
        out[:, 1] = torch.tanh(z[:, :1])[:, :, None].expand(-1, self.resolution, self.resolution)
        return out


class RealReplay(nn.Module):
    """Replays real images: the i-th image asked of class k is ``images[k][i % len(images[k])]``.

    Any ``len(images[k])`` consecutive requests of class k give exactly the real images of class k.
    """

    def __init__(self, images: list[torch.Tensor], nz: int = 4) -> None:
        super().__init__()
        self.images, self.nz, self.num_classes = images, nz, len(images)
        self.count = [0] * len(images)
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        out = []
        for k in c.tolist():
            out.append(self.images[k][self.count[k] % len(self.images[k])])
            self.count[k] += 1
        return torch.stack(out).to(z.device)


def write_painter_export(folder: Path, num_classes: int = 12, label_names: list[str] | None = None) -> Path:
    """An export of a :class:`LabelPainter` as the toolkit writes exports (constructor kwargs in ``model``)."""
    kwargs = {"nz": 4, "num_classes": num_classes, "resolution": 8}
    write_export(folder, GENERATOR, LabelPainter(**kwargs).state_dict(), {"model": kwargs, "label_names": label_names or [], "step": 0})
    return folder


def load_painter(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """``sampling.load_generator`` for painter exports: the same export reader, the stand-in class."""
    return load_export(path, GENERATOR, LabelPainter, device=device)
