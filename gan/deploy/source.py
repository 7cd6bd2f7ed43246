"""Loading whatever a user points at (run, export, checkpoint or hub folder, Hub repo id) and the inputs of its model."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from ..errors import CheckpointError, ExportError
from ..formats import GENERATOR, SEGMENTER, ExportKind, find_export, kind_name, load_export
from ..models.generate import cycled_labels, latents_for_seeds

KINDS: dict[str, ExportKind] = {kind_name(k): k for k in (GENERATOR, SEGMENTER)}
# Input and output names of the exported graphs, per kind (a conditional generator adds "label").
INPUT_NAMES = {"generator": ["z"], "segmenter": ["image"]}
LABEL_INPUT = "label"
OUTPUT_NAMES = {"generator": "image", "segmenter": "logits"}


@contextmanager
def optional_extra(module: str, extra: str) -> Iterator[None]:
    """Wrap the import of an optional package: if it is missing, stop with one line naming the extra.

    Used as ``with optional_extra("onnx", "export"): import onnx`` (plain imports, never by name).
    """
    try:
        yield
    except ImportError:
        raise ExportError(f"{module} is not installed; install the optional extra: pip install -e \".[{extra}]\"") from None


@dataclass
class Loaded:
    """A model in eval mode on the CPU with its export JSON and kind name (``generator`` | ``segmenter``)."""

    model: nn.Module
    meta: dict[str, Any]
    kind: str
    folder: Path

    @property
    def num_classes(self) -> int:
        """Classes of a conditional generator (0: unconditional)."""
        m = self.meta["model"]
        return int(m.get("num_classes") or m.get("c_dim") or 0) if self.kind == "generator" else 0

    @property
    def label_names(self) -> list[str]:
        """Class names of a conditional generator (its training labels), or of a segmenter's classes."""
        key = "class_names" if self.kind == "segmenter" else "label_names"
        return list(self.meta.get(key) or [])


def _builder(kind: str) -> Any:
    if kind == "generator":
        from ..models import Generator

        return Generator
    from ..seg.model import SegmentationModel

    return SegmentationModel


def load_source(path: str | Path, kind: str | None = None) -> Loaded:
    """Load the generator or segmenter of ``path`` (``kind`` None: whichever it holds, generator first).

    ``path``: a run, export, checkpoint or hub folder, or a Hub repo id (:func:`gan.formats.resolve.resolve_source`).
    """
    from ..formats.resolve import resolve_source

    path = resolve_source(path)
    errors = []
    for name in [kind] if kind else list(KINDS):
        try:
            folder = find_export(path, KINDS[name])
        except CheckpointError as err:
            errors.append(str(err))
            continue
        model, meta = load_export(folder, KINDS[name], _builder(name))
        return Loaded(model, meta, name, folder)
    if kind:
        raise CheckpointError(errors[0])
    raise CheckpointError(f"'{path}' holds neither a generator nor a segmenter export (a run, export/, best/, checkpoint or hub folder)")


def example_inputs(loaded: Loaded, batch: int, size: tuple[int, int] | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
    """Fixed inputs of the model by input name: seeded latents (+ labels) or a seeded image batch of ``size``."""
    if loaded.kind == "generator":  # the inputs of sample.py --seeds seed.. (labels cycling through the classes)
        inputs = {"z": latents_for_seeds(range(seed, seed + batch), loaded.meta["model"]["nz"])}
        if loaded.num_classes:
            inputs[LABEL_INPUT] = cycled_labels(batch, loaded.num_classes)
        return inputs
    m = loaded.meta["model"]
    h, w = size or (m["resolution"], m["resolution"])
    image = torch.rand(batch, m["channels"], h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return {"image": image}
