"""Finding and loading inference exports (weights as safetensors + a JSON of constructor kwargs)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from .checkpoint import CheckpointError, list_checkpoints, load_safetensors


def find_export_folder(path: str | Path, weights: str, meta: str, subdirs: Sequence[str] = ("export",)) -> Path:
    """The folder holding ``weights`` + ``meta``: ``path`` itself, one of its ``subdirs``, or its latest checkpoint."""
    path = Path(path)
    for candidate in [path] + [path / sub for sub in subdirs]:
        if (candidate / weights).is_file() and (candidate / meta).is_file():
            return candidate
    done = list_checkpoints(path / "checkpoints")
    if done and (done[-1] / weights).is_file():
        return done[-1]
    places = ", ".join(f"{sub}/" for sub in subdirs)
    raise CheckpointError(f"'{path}' holds no {weights} + {meta} (pass a run folder, {places} or a checkpoint folder)")


def load_exported_model(
    path: str | Path,
    build: Callable[..., nn.Module],
    weights: str,
    meta: str,
    subdirs: Sequence[str] = ("export",),
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, dict]:
    """``build(**meta["model"])`` with the export's weights, in eval mode; returns ``(model, meta)``."""
    folder = find_export_folder(path, weights, meta, subdirs)
    info = json.loads((folder / meta).read_text())
    try:
        model = build(**info["model"])
        model.load_state_dict(load_safetensors(folder / weights))
    except (KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"'{folder}' does not match its {meta}: {str(err).splitlines()[0]}") from None
    return model.to(device).eval().requires_grad_(False), info
