"""Cache keys for real-data features and statistics.

torch-fidelity names its cache files ``<input cache name>-<extractor>-...``; on its own that name
ignores the resolution, the preprocessing and the extractor's weights, so stale statistics would
be reused after any of them changes. We pass a name that hashes all of them, and write a
``<name>.json`` next to the cache files saying what it stands for.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..config import DataConfig
from ..engine.formats import write_json_atomic
from .extractors import ExtractorSpec

# Bump when the real-image pipeline (dataset transforms or uint8 conversion) changes meaning.
PREPROCESSING_VERSION = 1
KEY_HASH_CHARS = 16


def preprocessing(data: DataConfig) -> str:
    """Human-readable description of how real images reach the feature extractor."""
    if data.name == "shapes":
        load = f"procedural shapes rendered at {data.resolution}px"
    else:
        mode = "grayscale" if data.channels == 1 else "RGB"
        load = f"{mode}, resize shorter side to {data.resolution} (antialias), centre crop {data.resolution}"
    return f"v{PREPROCESSING_VERSION}: {load}; [-1,1] -> uint8 round((x+1)*127.5); grayscale repeated to 3 channels"


def data_identity(data: DataConfig) -> dict[str, Any]:
    """The settings that decide which real images there are (not how they are loaded)."""
    ident: dict[str, Any] = {"dataset": data.name, "split": data.split}
    if data.name == "shapes":
        ident.update(shapes_size=data.shapes_size, shapes_seed=data.shapes_seed, split="procedural")
    else:
        ident["root"] = str(Path(data.root).expanduser().resolve())
    if data.name == "lsun":
        ident["lsun_classes"] = data.lsun_classes
    return ident


def real_key_parts(data: DataConfig, dataset_size: int, num_real: int, seed: int, extractor: ExtractorSpec) -> dict[str, Any]:
    return {
        **data_identity(data),
        "dataset_size": dataset_size,  # catches images added to or removed from a folder
        "num_real": num_real,
        "subset_seed": seed,
        "resolution": data.resolution,
        "channels": data.channels,
        "preprocessing": preprocessing(data),
        "feature_extractor": extractor.name,
        "weights_sha256": extractor.sha256,
    }


def real_cache_name(parts: dict[str, Any]) -> str:
    """``<dataset>-<split>-<res>px-<hash of every part>``: readable, and unique per protocol."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:KEY_HASH_CHARS]
    return f"{parts['dataset']}-{parts['split']}-{parts['resolution']}px-{digest}"


def cached_files(cache_dir: Path, name: str) -> list[Path]:
    """torch-fidelity's cache files for ``name`` (features and statistics)."""
    return sorted(p for p in cache_dir.glob(f"{name}-*.pt")) if cache_dir.is_dir() else []


def describe_key(cache_dir: Path, name: str, parts: dict[str, Any]) -> Path:
    """Write ``<cache_dir>/<name>.json`` with the parts of the key (for people browsing the cache)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{name}.json"
    if not path.exists():
        write_json_atomic(path, parts)
    return path
