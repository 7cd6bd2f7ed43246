"""The real-data features and statistics cache: keys, files and safe reading.

torch-fidelity names its cache files ``<input cache name>-<extractor>-...``; on its own that name
ignores the resolution, the preprocessing and the extractor's weights, so stale statistics would
be reused after any of them changes. Our name hashes all of them, and a ``<name>.json`` next to
the cache files says what it stands for.

torch-fidelity's own cache (its ``cache`` option) reads its ``.pt`` files back with an
unrestricted ``torch.load`` (``weights_only`` off), i.e. unpickles whatever lies at a predictable
path, which can run code. So it is never used: the toolkit writes and reads safetensors files itself, and a
file that is not one is an error naming it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics

from ..config import DataConfig
from ..errors import CheckpointError
from ..formats import load_safetensors, save_safetensors_atomic, write_json_atomic
from .extractors import ExtractorSpec
from .weights import EvalError

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


def features_file(cache_dir: Path, name: str, layer: str) -> Path:
    """Real features of one extractor layer (what KID and precision/recall compare against)."""
    return cache_dir / f"{name}-features-{layer}.safetensors"


def fid_stats_file(cache_dir: Path, name: str, layer: str) -> Path:
    """FID statistics (mean and covariance) of one extractor layer."""
    return cache_dir / f"{name}-fid-{layer}.safetensors"


def cached_files(cache_dir: Path, name: str) -> list[Path]:
    """The cache files for ``name`` (features and statistics)."""
    return sorted(p for p in cache_dir.glob(f"{name}-*.safetensors")) if cache_dir.is_dir() else []


def read_entry(path: Path, keys: tuple[str, ...]) -> dict[str, torch.Tensor] | None:
    """The tensors ``keys`` of a cache file, or None when there is none.

    Read with safetensors only (no pickle). A file that is not a safetensors file, or lacks a key,
    is an :class:`EvalError` naming it: silently recomputing would hide that someone replaced it.
    """
    if not path.exists():
        return None
    try:
        tensors = load_safetensors(path)
    except CheckpointError as err:
        raise EvalError(f"real-statistics cache: {err}; delete it to recompute") from None
    missing = [k for k in keys if k not in tensors]
    if missing:
        raise EvalError(f"real-statistics cache: '{path}' has no {', '.join(repr(k) for k in missing)}; delete it to recompute")
    return {k: tensors[k] for k in keys}


def write_entry(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write a cache file atomically (a crash never leaves a half-written file under the final name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors_atomic(tensors, path)


def describe_key(cache_dir: Path, name: str, parts: dict[str, Any]) -> Path:
    """Write ``<cache_dir>/<name>.json`` with the parts of the key (for people browsing the cache)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{name}.json"
    if not path.exists():
        write_json_atomic(path, parts)
    return path


def load_or_compute(
    cache_dir: Path, name: str, fid_layer: str | None, feature_layers: list[str], compute: Callable[[], dict[str, torch.Tensor]]
) -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray] | None, bool]:
    """Real features of ``feature_layers`` and FID statistics of ``fid_layer`` (None: not wanted).

    Read from the cache when every wanted file is there; else ``compute()`` (features of every
    extractor layer) runs once and the files are written. Returns ``(features, stats, cache_hit)``.
    """
    feature_paths = {layer: features_file(cache_dir, name, layer) for layer in feature_layers}
    stats_path = fid_stats_file(cache_dir, name, fid_layer) if fid_layer else None
    feats = {layer: read_entry(path, ("features",)) for layer, path in feature_paths.items()}
    stats = read_entry(stats_path, ("mu", "sigma")) if stats_path else None
    hit = all(f is not None for f in feats.values()) and (stats_path is None or stats is not None)
    if not hit:
        computed = compute()
        feats = {layer: {"features": computed[layer]} for layer in feature_layers}
        for layer, path in feature_paths.items():
            write_entry(path, feats[layer])  # type: ignore[arg-type]
        if stats_path is not None:
            stats = {k: torch.from_numpy(v) for k, v in fid_features_to_statistics(computed[fid_layer]).items()}  # type: ignore[index]
            write_entry(stats_path, stats)
    features = {layer: f["features"] for layer, f in feats.items()}  # type: ignore[index]
    return features, ({k: v.numpy() for k, v in stats.items()} if stats is not None else None), hit
