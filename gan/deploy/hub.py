"""The Hugging Face Hub folder of an export: config.json + model.safetensors + README.md model card.

The folder is the models' ``save_pretrained`` format (:mod:`gan.models.pretrained`; file names from
:data:`gan.formats.HUB` and its neighbours) with a card from :mod:`gan.deploy.card`, a sample image and the
training config. It is read back by ``from_pretrained`` and :func:`gan.formats.load_export` (so by
``sample.py``, ``predict_seg.py`` and ``demo.py``), and uploaded as it was verified by :func:`push_folder`.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import HfApi, get_token

from ..errors import ExportError, first_line
from ..formats import (
    BEST_JSON, EVAL_DIR, EVALUATION_JSON, HUB_CARD, HUB_FILES, HUB_SAMPLE, HUB_TRAIN_CONFIG, OVERLAYS_DIR, RUN_CONFIG, hub_config,
    replace_folder,
)
from ..models.generate import generate, grid_inputs
from ..names import EXPORT_LICENSE
from .card import model_card
from .source import Loaded

SEG_OVERLAY = Path(OVERLAYS_DIR) / "latest.png"  # the newest validation overlay of a segmentation run


def run_dir_of(folder: Path) -> Path | None:
    """The training run an export folder belongs to (``run/``, ``run/export``, ``run/checkpoints/checkpoint-N``)."""
    for candidate in [folder, *list(folder.resolve().parents)[:2]]:
        if (candidate / RUN_CONFIG).is_file():
            return candidate
    return None


def find_evaluation(folder: Path, run_dir: Path | None) -> dict[str, Any] | None:
    """The evaluation result (``{"metrics", "protocol", "step"}``) that describes this export, if any.

    In order: evaluate.py's result beside the export, the one ``best/best.json`` names, the run's newest ``eval/`` file.
    """
    candidates = [folder / EVALUATION_JSON]
    best = _read_json(folder / BEST_JSON)
    if run_dir is not None and isinstance(best, dict) and isinstance(best.get("eval_json"), str):
        candidates.append(run_dir / best["eval_json"])
    if run_dir is not None:
        candidates += sorted((run_dir / EVAL_DIR).glob("step-*.json"), reverse=True)
    for path in candidates:
        result = _read_json(path)
        if isinstance(result, dict) and isinstance(result.get("metrics"), dict):
            return result
    return None


def _read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when it is missing or unreadable (the card then says less, it does not fail)."""
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _sample_image(loaded: Loaded, out_dir: Path, run_dir: Path | None) -> str | None:
    if loaded.kind == "generator":
        from ..generation.sampling import save_grid

        # The grid of ``sample.py --grid`` without --labels (a conditional one: one row per class, the same seeds in every row).
        latents, labels, nrow = grid_inputs(loaded.meta["model"]["nz"], loaded.num_classes)
        save_grid(generate(loaded.model, latents, labels=labels), out_dir / HUB_SAMPLE, nrow)
        return HUB_SAMPLE
    if run_dir is not None and (run_dir / SEG_OVERLAY).is_file():
        shutil.copyfile(run_dir / SEG_OVERLAY, out_dir / HUB_SAMPLE)
        return HUB_SAMPLE
    return None


def write_hub_folder(loaded: Loaded, out_dir: Path, license_id: str = EXPORT_LICENSE) -> Path:
    """Write the hub folder of ``loaded`` as ``out_dir`` and return it.

    Everything is written into a temporary sibling folder and reloaded there (it must compute exactly what
    ``loaded`` does) before it replaces the hub files of ``out_dir``: a failure leaves ``out_dir`` as it was.
    Other files of ``out_dir`` (e.g. an ONNX export) are kept.
    """
    from .runtime import verify_reload

    run_dir = run_dir_of(loaded.folder)

    def fill(tmp: Path) -> None:
        sample = _sample_image(loaded, tmp, run_dir)
        if loaded.meta.get("config"):
            (tmp / HUB_TRAIN_CONFIG).write_text(yaml.safe_dump(loaded.meta["config"], sort_keys=False))
        model_card(loaded, find_evaluation(loaded.folder, run_dir), sample, license_id).save(tmp / HUB_CARD)
        # the weights and config.json through the mixin (it keeps the card written above)
        loaded.model.save_pretrained(tmp, config=hub_config(loaded.kind, loaded.meta))  # type: ignore[operator]
        verify_reload(loaded, tmp, out_dir)

    replace_folder(out_dir, fill, replaced=HUB_FILES)
    return out_dir


def push_folder(folder: Path, repo_id: str) -> str:
    """Upload ``folder`` to the model repo ``repo_id``; returns its URL. Any failure is one line, the folder untouched."""
    token = get_token()
    if not token:
        raise ExportError(f"not logged in to the Hugging Face Hub (run `hf auth login` or set HF_TOKEN); nothing uploaded, '{folder}' is intact")
    try:
        api = HfApi(token=token)
        api.create_repo(repo_id, repo_type="model", exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", commit_message="Upload gan-toolkit export")
    except Exception as err:  # network, auth, offline mode, bad repo id: all end the same way, in one line
        raise ExportError(f"could not push to the Hub repo '{repo_id}': {first_line(err)}; '{folder}' is intact") from None
    return str(getattr(commit, "commit_url", "") or f"{repo_id}")
