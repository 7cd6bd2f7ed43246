"""The on-disk formats: every file name of an inference export and of a checkpoint, and their readers/writers.

An **export** is what inference needs, without training state: model weights as safetensors plus a
JSON file holding the constructor arguments (``"model"``), the step and the training config. Its
file names come from an :class:`ExportKind` (:data:`GENERATOR`, :data:`SEGMENTER`); other formats
of the same model (ONNX, TorchScript: :func:`runtime_file`) get their file names here too.

A **hub folder** (:data:`HUB`) is the Hugging Face Hub layout of either kind, which is also the format
of ``huggingface_hub.PyTorchModelHubMixin`` (the models' ``save_pretrained``/``from_pretrained``):
``config.json`` holding the constructor arguments at its top level, :data:`HUB_KIND_KEY` naming the kind
and :data:`HUB_META_KEY` the rest of the export JSON (:func:`hub_config`), + ``model.safetensors`` + a
``README.md`` model card. Folders written before (``config.json`` = the export JSON + the kind key)
still load. :func:`find_export`, :func:`read_export_meta` and :func:`load_export` read both like any
export. The card and the upload live in :mod:`gan.deploy.hub`.

A **checkpoint** is a ``checkpoint-<step>`` folder (see :mod:`gan.engine.checkpoint`): Accelerate's
files for the prepared objects, plus the files named below.

Everything is written atomically (temp file + rename) and read without executing code.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..config import MAX_CHANNELS, MAX_LATENT
from ..errors import UserError, first_line

# ---- run directory: what a training run writes under its out_dir -----------------------------
CHECKPOINTS_DIR = "checkpoints"
EXPORT_DIR = "export"  # the latest inference export
BEST_DIR = "best"  # the export with the best evaluation score
RUN_CONFIG = "config.yaml"  # the resolved config
METRICS_LOG = "metrics.jsonl"  # per-step training losses
LOSS_PLOT = "loss_curves.png"
SAMPLES_DIR = "samples"  # GAN: fixed-noise grids
EVAL_DIR, BEST_JSON, EVALUATION_JSON = "eval", "best.json", "evaluation.json"  # GAN: periodic FID/KID results
SEG_EVAL_LOG, SEG_EVAL_PLOT, OVERLAYS_DIR = "eval.jsonl", "eval_curves.png", "overlays"  # segmentation validation
TIMELINE_FILE, ABANDONED_DIR = "timeline.json", "abandoned"  # the run's one history; what a rewind set aside
RUN_OUTPUTS = (CHECKPOINTS_DIR, EXPORT_DIR, BEST_DIR, RUN_CONFIG, METRICS_LOG, LOSS_PLOT, SAMPLES_DIR, EVAL_DIR,
               SEG_EVAL_LOG, SEG_EVAL_PLOT, OVERLAYS_DIR, TIMELINE_FILE, ABANDONED_DIR)  # everything ``overwrite=true`` may delete

# ---- checkpoint files ------------------------------------------------------------------------
CHECKPOINT_PREFIX = "checkpoint-"
TMP_PREFIX = ".tmp-checkpoint-"
OLD_PREFIX = ".old-checkpoint-"  # a same-step checkpoint being replaced
STATE_FILE = "trainer_state.json"  # written last: its presence marks a complete checkpoint
EXTRA_STATE_FILE = "extra_state.safetensors"  # the task's own tensors (EMA weights, best score, ...)


def rng_file(folder: Path, rank: int) -> Path:
    """The task's random-generator states of process ``rank`` (latent noise, augmentation)."""
    return folder / f"toolkit_rng_{rank}.safetensors"


def user_cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/gan-toolkit/<name>`` (``~/.cache/...`` by default): caches that outlive a run."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gan-toolkit" / name


# ---- exports ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportKind:
    """The files of one kind of export and where a run folder keeps it.

    Attributes:
        weights: the safetensors file of the model.
        meta: the JSON file with ``{"model": constructor kwargs, "step", "config", ...}``.
        subdirs: folders of a run directory that hold this export, in order of preference.
    """

    weights: str
    meta: str
    subdirs: tuple[str, ...]


GENERATOR = ExportKind("generator.safetensors", "generator.json", (EXPORT_DIR,))
DISCRIMINATOR_WEIGHTS = "discriminator.safetensors"  # beside a generator export: the segmentation encoder's source
SEGMENTER = ExportKind("segmenter.safetensors", "segmenter.json", (BEST_DIR, EXPORT_DIR))

# Evaluation results: a run's eval/step-<step>.json files, best/best.json naming the best of them,
# and evaluate.py's default result file beside the evaluated export.

# Hugging Face Hub layout of an export (either kind): which kind it holds is config.json's HUB_KIND_KEY.
HUB = ExportKind("model.safetensors", "config.json", ())
HUB_KIND_KEY = "gan_toolkit_kind"
HUB_META_KEY = "gan_toolkit"  # config.json: the export JSON other than the constructor arguments (step, training config, classes)
HUB_CARD = "README.md"  # the model card
HUB_SAMPLE = "sample_grid.png"  # the card's image
HUB_TRAIN_CONFIG = "training_config.yaml"  # the resolved training config, for the card's reproduce command
HUB_FILES = (HUB.weights, HUB.meta, HUB_CARD, HUB_SAMPLE, HUB_TRAIN_CONFIG)  # what a hub export owns in its folder

# Runtime formats of an export, written by gan.deploy.runtime: "<kind name><suffix>".
RUNTIME_SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
RUNTIME_META_KEY = "gan_toolkit"  # ONNX metadata_props key / TorchScript extra file holding the export JSON


def kind_name(kind: ExportKind) -> str:
    """``generator`` or ``segmenter``: the stem of the kind's weights file."""
    return Path(kind.weights).stem


def runtime_file(kind: ExportKind, fmt: str) -> str:
    """File name of ``kind`` in runtime format ``fmt`` (``onnx`` | ``torchscript``)."""
    return kind_name(kind) + RUNTIME_SUFFIXES[fmt]


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


# Upper bounds of size-like constructor arguments, checked before a model is allocated.
MODEL_ARG_LIMITS = {"nz": MAX_LATENT, "ngf": MAX_CHANNELS, "ndf": MAX_CHANNELS, "max_channels": MAX_CHANNELS,
                    "channels": 4, "resolution": 4096, "num_classes": 100_000}
MODEL_ARG_FLOORS = {"num_classes": 0}  # an unconditional generator records num_classes 0; every other argument is >= 1


class CheckpointError(UserError):
    """A checkpoint or export that cannot be used, reported as one line."""


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


WRITE_ERRORS = (OSError, SafetensorError)  # what a failed write raises (safetensors wraps the OS error in its own type)
# safetensors' message: "Error while serializing: I/O error: No space left on device (os error 28)[ at path ...]"
_SAFETENSORS_IO = re.compile(r"I/O error: (.*?)(?: at path .*)?$")


class WriteError(UserError):
    """A file that could not be written (a full disk, no permission): one line naming it and the free space."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"cannot write '{path}': {reason} ({free_mib(self.path):.0f} MiB free on that disk)")


def free_mib(path: Path) -> float:
    """Free space, in MiB, of the disk holding ``path`` (or its nearest existing parent)."""
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    return shutil.disk_usage(existing).free / 2**20


def write_failure(err: BaseException) -> str:
    """Why a write failed, in one line: the OS error inside safetensors' message, else the error's first line."""
    if isinstance(err, WriteError):
        return err.reason
    text = first_line(err)
    found = _SAFETENSORS_IO.search(text) if isinstance(err, SafetensorError) else None
    return found.group(1) if found else text


def save_safetensors_atomic(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` to ``path`` by temp file + fsync + rename: ``path`` is the old file or the complete new one.

    A failed write (e.g. a full disk) removes the temp file and raises :class:`WriteError` (one line).
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
        with open(tmp, "rb") as f:  # a full disk can first show at the flush; never rename unflushed data into place
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):  # no partial file is left behind, whatever stopped the write
            tmp.unlink(missing_ok=True)
        if isinstance(err, WRITE_ERRORS):
            raise WriteError(path, write_failure(err)) from None
        raise


def _link_entry(src: str | Path, dst: str | Path) -> None:
    """Put ``src`` at ``dst`` without copying data or touching ``src``: hard links (a copy where links fail)."""
    src, dst = Path(src), Path(dst)
    if src.is_symlink() or not src.is_dir():
        try:
            os.link(src, dst, follow_symlinks=False)
        except OSError:
            shutil.copy2(src, dst, follow_symlinks=False)
    else:
        shutil.copytree(src, dst, symlinks=True, copy_function=_link_entry)


def replace_folder(dest: str | Path, fill: Callable[[Path], None], replaced: Collection[str] | None = None) -> Path:
    """Fill a temporary sibling of ``dest``, then swap it in by rename: a failure or a crash leaves the old
    folder or the new one, never a mix; returns ``dest``.

    ``fill(tmp)`` writes (and verifies) everything; if it raises, ``tmp`` is removed and ``dest`` is as it
    was. ``replaced``: the entry names ``fill`` owns; the old folder's other entries are carried into the
    new one as hard links (so they stay byte-identical and nothing is copied). None: the whole folder is
    replaced. The writers above replace files by rename, so a carried link is never written through.
    """
    dest = Path(dest).resolve()  # "." or "out/" must have a name; a symlinked folder is swapped where it lies
    tmp, old = dest.with_name(f".tmp-{dest.name}"), dest.with_name(f".old-{dest.name}")
    for stale in (tmp, old):
        shutil.rmtree(stale, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        if replaced is not None and dest.is_dir():
            for entry in dest.iterdir():
                if entry.name not in replaced:
                    _link_entry(entry, tmp / entry.name)
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest


def load_safetensors(path: Path) -> dict[str, torch.Tensor]:
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
    done: list[Path] = []
    if (path / "checkpoints").is_dir():
        from .checkpoint import list_checkpoints  # only here: it imports Accelerate, which inference never needs

        done = list_checkpoints(path / "checkpoints")
    if done and (done[-1] / kind.weights).is_file():
        return done[-1]
    places = ", ".join(f"{sub}/" for sub in kind.subdirs)
    raise CheckpointError(f"'{path}' holds no {kind.weights} + {kind.meta} (pass a run folder, {places} or a checkpoint folder)")


def read_export_meta(folder: Path, kind: ExportKind) -> dict[str, Any]:
    """The export's JSON, with its constructor arguments checked against :data:`MODEL_ARG_LIMITS`."""
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
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and floor <= value <= limit):
            raise CheckpointError(f"'{path}': model.{key}={value!r} is not an integer in {floor}..{limit}; refusing to build it")
    return meta


def load_export(path: str | Path, kind: ExportKind, build: Callable[..., nn.Module], device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """``build(**meta["model"])`` with the export's weights, in eval mode; returns ``(model, meta)``."""
    folder = find_export(path, kind)
    meta = read_export_meta(folder, kind)
    files = export_files(folder, kind)
    try:
        model = build(**meta["model"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"'{folder / files.meta}' does not describe a buildable model: {first_line(err)}") from None
    state = load_safetensors(folder / files.weights)
    check_state_fits(model, state, folder / files.weights, folder / files.meta)
    model.load_state_dict(state)
    return model.to(device).eval().requires_grad_(False), meta


def check_state_fits(model: nn.Module, state: dict[str, torch.Tensor], weights: Path, meta: Path, shown: int = 3) -> None:
    """Refuse, in one line naming both files and the first mismatches, weights that do not fit ``model``.

    (``load_state_dict``'s own error spreads the keys over many lines; its first line names none.)
    """
    expected = model.state_dict()
    problems = []
    for what, keys in (("missing", [k for k in expected if k not in state]), ("unexpected", [k for k in state if k not in expected])):
        if keys:
            problems.append(f"{len(keys)} {what} key(s) ({', '.join(keys[:shown])}{', ...' if len(keys) > shown else ''})")
    shapes = [f"{k} {tuple(v.shape)} vs {tuple(expected[k].shape)}" for k, v in state.items() if k in expected and v.shape != expected[k].shape]
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es), file vs model ({'; '.join(shapes[:shown])}{'; ...' if len(shapes) > shown else ''})")
    if problems:
        raise CheckpointError(f"'{weights}' does not fit the model that '{meta}' describes: {'; '.join(problems)}")
