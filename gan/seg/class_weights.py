"""Median-frequency class weights computed once per set of mask files and cached.

Scanning CamVid's 367 training masks takes a while on a CPU and the result only depends on the
mask files and the settings, so it is kept in ``$XDG_CACHE_HOME/gan-toolkit/seg-class-weights/``
under a hash of those (each file's path, size and mtime). Datasets without mask files (shapes)
are scanned every time (they are generated, and cheap).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from ..formats import user_cache_dir
from .data import SegFiles
from .losses import class_pixel_counts, median_frequency_weights

CACHE_VERSION = 1  # bump when the weights' formula or the mask pipeline changes
CACHE_NAME = "seg-class-weights"


def weights_key(dataset: Dataset, num_classes: int, ignore_index: int, max_images: int) -> str | None:
    """Hash of what the weights depend on, or None when ``dataset`` is not (a subset of) mask files."""
    base, indices = (dataset.dataset, list(dataset.indices)) if isinstance(dataset, Subset) else (dataset, None)
    if not isinstance(base, SegFiles):
        return None
    pairs = base.pairs if indices is None else [base.pairs[i] for i in indices]
    lines = [f"v{CACHE_VERSION}\t{base.resolution!r}\t{num_classes}\t{ignore_index}\t{sorted(base.label_map.items())}\t{max_images}"]
    for _, mask in pairs[:max_images]:
        st = mask.stat()
        lines.append(f"{mask.resolve()}\t{st.st_size}\t{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:24]


def cached_class_weights(dataset: Dataset, num_classes: int, ignore_index: int, max_images: int, folder: Path | None = None) -> tuple[torch.Tensor, bool]:
    """``(median-frequency weights, read from the cache?)`` of the first ``max_images`` training masks."""
    key = weights_key(dataset, num_classes, ignore_index, max_images)
    path = (folder or user_cache_dir(CACHE_NAME)) / f"{key}.json" if key else None
    if path is not None and path.is_file():
        try:
            weights = json.loads(path.read_text())["weights"]
            if len(weights) == num_classes:
                return torch.tensor(weights, dtype=torch.float32), True
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is recomputed and rewritten
    weights = median_frequency_weights(*class_pixel_counts(dataset, num_classes, ignore_index, max_images))
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
            tmp.write_text(json.dumps({"weights": weights.tolist()}))
            tmp.replace(path)
        except OSError:
            pass  # a read-only cache folder only costs the rescan next time
    return weights, False
