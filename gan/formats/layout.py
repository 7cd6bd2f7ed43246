"""File and folder names of everything the toolkit writes: run folders, checkpoints, exports, hub folders.

An **export** is what inference needs, without training state: model weights as safetensors plus a
JSON file holding the constructor arguments (``"model"``), the step and the training config. Its
file names come from an :class:`ExportKind` (:data:`GENERATOR`, :data:`SEGMENTER`); other formats
of the same model (ONNX, TorchScript: :func:`runtime_file`) get their file names here too.

A **hub folder** (:data:`HUB`) is the Hugging Face Hub layout of either kind, which is also the format
of ``huggingface_hub.PyTorchModelHubMixin`` (the models' ``save_pretrained``/``from_pretrained``):
``config.json`` holding the constructor arguments at its top level, :data:`HUB_KIND_KEY` naming the kind
and :data:`HUB_META_KEY` the rest of the export JSON (see :mod:`gan.formats.exports`), +
``model.safetensors`` + a ``README.md`` model card; folders written before (``config.json`` = the export
JSON + the kind key) still load. The card and the upload live in :mod:`gan.deploy.hub`.

A **checkpoint** is a ``checkpoint-<step>`` folder (written by :mod:`gan.engine.checkpoint`):
Accelerate's files for the prepared objects, plus the files named below.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

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
# Everything ``overwrite=true`` may delete.
RUN_OUTPUTS = (CHECKPOINTS_DIR, EXPORT_DIR, BEST_DIR, RUN_CONFIG, METRICS_LOG, LOSS_PLOT, SAMPLES_DIR, EVAL_DIR,
               SEG_EVAL_LOG, SEG_EVAL_PLOT, OVERLAYS_DIR, TIMELINE_FILE, ABANDONED_DIR)

# ---- checkpoint files ------------------------------------------------------------------------
CHECKPOINT_PREFIX = "checkpoint-"
TMP_PREFIX = ".tmp-checkpoint-"
OLD_PREFIX = ".old-checkpoint-"  # a same-step checkpoint being replaced
STATE_FILE = "trainer_state.json"  # written last: its presence marks a complete checkpoint
EXTRA_STATE_FILE = "extra_state.safetensors"  # the task's own tensors (EMA weights, best score, ...)
_STEP_RE = re.compile(rf"^{CHECKPOINT_PREFIX}(\d+)$")


def rng_file(folder: Path, rank: int) -> Path:
    """The task's random-generator states of process ``rank`` (latent noise, augmentation)."""
    return folder / f"toolkit_rng_{rank}.safetensors"


def checkpoint_step(path: Path) -> int | None:
    """The step of a ``checkpoint-<step>`` folder; None for any other name."""
    match = _STEP_RE.match(path.name)
    return int(match.group(1)) if match else None


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root`` (their :data:`STATE_FILE` is written last), oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and checkpoint_step(p) is not None and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: checkpoint_step(p) or 0)


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
