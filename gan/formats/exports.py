"""Reading and writing exports (see :mod:`.layout`), without executing code from the files.

:func:`find_export`, :func:`read_export_meta` and :func:`load_export` read an export folder, a run
folder (its export subfolders or latest checkpoint) and a hub folder alike. The constructor
arguments an export records are checked against :data:`gan.names.MODEL_ARG_LIMITS` before a model
is built from them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file
from torch import nn

from ..errors import CheckpointError, UserError, first_line
from ..names import MODEL_ARG_FLOORS, MODEL_ARG_LIMITS
from .atomic import save_safetensors_atomic, write_json_atomic
from .layout import CHECKPOINTS_DIR, HUB, HUB_KIND_KEY, HUB_META_KEY, ExportKind, kind_name, list_checkpoints


def load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; one-line :class:`CheckpointError` when it is missing or unreadable."""
    if not path.is_file():
        raise CheckpointError(f"missing file '{path}'")
    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises its own error type for a corrupt or foreign file
        raise CheckpointError(f"'{path}' is not a readable safetensors file: {first_line(err)}") from None


def write_export(folder: Path, kind: ExportKind, state: dict[str, torch.Tensor], meta: dict[str, Any],
                 extra: dict[str, dict[str, torch.Tensor]] | None = None) -> None:
    """Write an export of ``kind`` into ``folder``: weights, ``extra`` weight files by name, then the JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors_atomic(state, folder / kind.weights)
    for name, tensors in (extra or {}).items():
        save_safetensors_atomic(tensors, folder / name)
    write_json_atomic(folder / kind.meta, meta)  # last: a folder with the JSON is complete


def hub_kind(folder: Path) -> str | None:
    """The kind name a hub folder holds, or None when ``folder`` is not a (readable) hub folder."""
    if not ((folder / HUB.weights).is_file() and (folder / HUB.meta).is_file()):
        return None
    try:
        value = json.loads((folder / HUB.meta).read_text()).get(HUB_KIND_KEY)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def hub_config(kind: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The ``config.json`` of a hub folder of ``kind`` for the export JSON ``meta``.

    The constructor arguments stand at the top level, where ``PyTorchModelHubMixin.from_pretrained``
    reads them; the rest of ``meta`` goes under :data:`HUB_META_KEY`.
    """
    return {**meta["model"], HUB_KIND_KEY: kind, HUB_META_KEY: {k: v for k, v in meta.items() if k != "model"}}


def meta_of_hub_config(config: dict[str, Any]) -> dict[str, Any]:
    """The export JSON that a hub folder's ``config.json`` holds: the inverse of :func:`hub_config`.

    A folder written before the layout followed ``PyTorchModelHubMixin`` holds the export JSON itself
    (with a ``"model"`` mapping) plus :data:`HUB_KIND_KEY`.
    """
    if isinstance(config.get("model"), dict):
        return {k: v for k, v in config.items() if k != HUB_KIND_KEY}
    extra = config.get(HUB_META_KEY)
    model = {k: v for k, v in config.items() if k not in (HUB_KIND_KEY, HUB_META_KEY)}
    return {**(extra if isinstance(extra, dict) else {}), "model": model}


def export_files(folder: Path, kind: ExportKind) -> ExportKind:
    """The file names of ``kind`` in ``folder``: :data:`HUB`'s in a hub folder of that kind, else ``kind``'s."""
    return HUB if hub_kind(folder) == kind_name(kind) else kind


def find_export(path: str | Path, kind: ExportKind) -> Path:
    """The folder holding an export of ``kind``: ``path`` itself, one of ``kind.subdirs``, or the latest checkpoint."""
    path = Path(path)
    if not path.exists():  # not a CheckpointError: callers trying each kind (gan.deploy.source) must not go on
        raise UserError(f"'{path}' does not exist")
    for candidate in [path] + [path / sub for sub in kind.subdirs]:
        if (candidate / kind.weights).is_file() and (candidate / kind.meta).is_file():
            return candidate
        if hub_kind(candidate) == kind_name(kind):
            return candidate
    other = hub_kind(path)
    if other is not None:
        raise CheckpointError(f"'{path}' is a hub folder of a {other}, not of a {kind_name(kind)}")
    done = list_checkpoints(path / CHECKPOINTS_DIR)
    if done and (done[-1] / kind.weights).is_file():
        return done[-1]
    places = ", ".join(f"{sub}/" for sub in kind.subdirs)
    raise CheckpointError(f"'{path}' holds no {kind.weights} + {kind.meta} "
                          f"(pass a run folder, {places} or a checkpoint folder)")


def read_export_meta(folder: Path, kind: ExportKind) -> dict[str, Any]:
    """The export's JSON, with its constructor arguments checked against :data:`gan.names.MODEL_ARG_LIMITS`."""
    files = export_files(folder, kind)
    path = folder / files.meta
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"'{path}' is not a readable export description: {err}") from None
    if files is HUB and isinstance(meta, dict):
        meta = meta_of_hub_config(meta)
    model = meta.get("model") if isinstance(meta, dict) else None
    if not isinstance(model, dict):
        raise CheckpointError(f"'{path}' has no \"model\" mapping of constructor arguments")
    for key, limit in MODEL_ARG_LIMITS.items():
        value = model.get(key)
        floor = MODEL_ARG_FLOORS.get(key, 1)
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if value is not None and not (is_int and floor <= value <= limit):
            raise CheckpointError(f"'{path}': model.{key}={value!r} is not an integer in {floor}..{limit}; "
                                  "refusing to build it")
    return meta


def load_export(path: str | Path, kind: ExportKind, build: Callable[..., nn.Module],
                device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """``build(**meta["model"])`` with the export's weights, in eval mode; returns ``(model, meta)``."""
    folder = find_export(path, kind)
    meta = read_export_meta(folder, kind)
    files = export_files(folder, kind)
    try:
        model = build(**meta["model"])
    except (KeyError, TypeError, ValueError) as err:
        what = folder / files.meta
        raise CheckpointError(f"'{what}' does not describe a buildable model: {first_line(err)}") from None
    state = load_safetensors(folder / files.weights)
    check_state_fits(model, state, folder / files.weights, folder / files.meta)
    model.load_state_dict(state)
    return model.to(device).eval().requires_grad_(False), meta


def _listed(items: list[str], shown: int, sep: str) -> str:
    """The first ``shown`` items joined by ``sep``, with ``...`` when there are more."""
    return sep.join(items[:shown]) + (f"{sep}..." if len(items) > shown else "")


def check_state_fits(model: nn.Module, state: dict[str, torch.Tensor], weights: Path, meta: Path,
                     shown: int = 3) -> None:
    """Refuse, in one line naming both files and the first mismatches, weights that do not fit ``model``.

    (``load_state_dict``'s own error spreads the keys over many lines; its first line names none.)
    """
    expected = model.state_dict()
    problems = []
    missing, unexpected = [k for k in expected if k not in state], [k for k in state if k not in expected]
    for what, keys in (("missing", missing), ("unexpected", unexpected)):
        if keys:
            problems.append(f"{len(keys)} {what} key(s) ({_listed(keys, shown, ', ')})")
    shapes = [f"{k} {tuple(v.shape)} vs {tuple(expected[k].shape)}" for k, v in state.items()
              if k in expected and v.shape != expected[k].shape]
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es), file vs model ({_listed(shapes, shown, '; ')})")
    if problems:
        raise CheckpointError(f"'{weights}' does not fit the model that '{meta}' describes: {'; '.join(problems)}")
