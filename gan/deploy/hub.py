"""The Hugging Face Hub folder of an export: config.json + model.safetensors + README.md model card.

File names come from :data:`gan.formats.HUB` and its neighbours; the folder is read back by
:func:`gan.formats.load_export` (so by ``sample.py``, ``predict_seg.py`` and ``demo.py``).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from ..errors import ExportError, first_line
from ..formats import (
    BEST_JSON, EVAL_DIR, EVALUATION_JSON, HUB, HUB_CARD, HUB_KIND_KEY, HUB_SAMPLE, HUB_TRAIN_CONFIG, OVERLAYS_DIR, RUN_CONFIG,
    replace_folder, save_safetensors_atomic, write_json_atomic,
)
from ..models.generate import GRID_CLASSES, GRID_PER_CLASS, GRID_SEEDS, generate, grid_inputs, grid_labels
from ..names import EXPORT_LICENSE
from .source import Loaded, optional_extra

TRAIN_SCRIPTS = {"generator": "train_gan.py", "segmenter": "train_seg.py"}
SEG_OVERLAY = Path(OVERLAYS_DIR) / "latest.png"  # the newest validation overlay of a segmentation run
HUB_FILES = (HUB.weights, HUB.meta, HUB_CARD, HUB_SAMPLE, HUB_TRAIN_CONFIG)  # what a hub export owns in its folder
# The card's ``datasets``: Hub ids of the public datasets the toolkit loads by name (the keys are names of
# gan.names.IMAGE_DATASETS / SEG_DATASETS). Others (shapes, a private folder, no canonical Hub copy) get none.
HUB_DATASETS = {"mnist": "ylecun/mnist", "fashion_mnist": "zalando-datasets/fashion_mnist", "cifar10": "uoft-cs/cifar10"}
CONDITIONAL_TAG = "class-conditional-image-generation"  # no Hub pipeline takes a class label: a tag, not a pipeline_tag


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


def _table(rows: dict[str, Any], head: tuple[str, str]) -> str:
    lines = [f"| {head[0]} | {head[1]} |", "|---|---|"]
    lines += [f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in rows.items()]
    return "\n".join(lines)


def card_metadata(loaded: Loaded, license_id: str = EXPORT_LICENSE) -> dict[str, Any]:
    """The model card's YAML front matter: library, license, pipeline_tag and tags by kind, public datasets."""
    data = ((loaded.meta.get("config") or {}).get("data") or {})
    tags = ["gan-toolkit", loaded.kind, "pytorch", "safetensors"]
    out: dict[str, Any] = {"library_name": "gan-toolkit", "license": license_id}
    if loaded.kind == "segmenter":
        out["pipeline_tag"] = "image-segmentation"
    elif loaded.num_classes:
        tags += ["gan", CONDITIONAL_TAG]
    else:
        tags.append("gan")
        out["pipeline_tag"] = "unconditional-image-generation"
    out["tags"] = tags
    if data.get("name") in HUB_DATASETS:
        out["datasets"] = [HUB_DATASETS[data["name"]]]
    return out


def model_card(loaded: Loaded, evaluation: dict[str, Any] | None, sample: str | None, license_id: str = EXPORT_LICENSE) -> str:
    """The README.md of a hub folder: metadata, architecture, data and steps, evaluation with protocol, samples, reproduce."""
    meta, kind = loaded.meta, loaded.kind
    cfg = meta.get("config") or {}
    data, train = cfg.get("data", {}), cfg.get("train", {})
    params = sum(p.numel() for p in loaded.model.parameters())
    title = f"DCGAN-style {kind} ({data.get('name', '?')}, {meta['model'].get('resolution')}x{meta['model'].get('resolution')})"
    out = ["---", yaml.safe_dump(card_metadata(loaded, license_id), sort_keys=False).rstrip(), "---", "",
           f"# {title}", "", f"Exported by gan-toolkit's `export.py --format hub` from a training run at step {meta.get('step')}.", ""]
    arch = "`gan.models.Generator` (latent -> 4x4 projection -> DeconvDecoder -> tanh image head; EMA weights)" if kind == "generator" \
        else "`gan.seg.model.SegmentationModel` (encoder -> DeconvDecoder with fused skips -> per-pixel class head)"
    out += ["## Architecture", "", f"{arch}, {params:,} parameters. Constructor arguments (`{HUB.meta}` -> `model`):", "",
            _table(meta["model"], ("argument", "value")), ""]
    names = loaded.label_names
    if names:
        out += [f"Classes: {', '.join(map(str, names))}.", ""]
    out += ["## Training data and steps", "", _table({
        "dataset": data.get("name"), "data root": "(procedural, embedded)" if data.get("name") == "shapes" else data.get("root"), "resolution": data.get("resolution"),
        "channels": data.get("channels"), "steps trained": meta.get("step"), "configured steps": train.get("steps"),
        "batch size": train.get("batch_size"), "loss": (cfg.get("loss") or {}).get("type"), "seed": train.get("seed"),
    }, ("setting", "value")), ""]
    out += ["## Evaluation", ""]
    if evaluation is not None:
        out += [f"At step {evaluation.get('step')}:", "", _table(evaluation["metrics"], ("metric", "value")), "",
                "Protocol (how the numbers were measured):", "", "```json", json.dumps(evaluation.get("protocol", {}), indent=2), "```", ""]
    elif kind == "segmenter" and meta.get("metrics"):
        out += ["Validation metrics of this export:", "", _table({k: v for k, v in meta["metrics"].items() if not isinstance(v, (list, dict))}, ("metric", "value")), ""]
    else:
        out += ["No evaluation results were found in the run (run `evaluate.py` on the export, or train with `eval.every`).", ""]
    out += ["## Samples", ""]
    if sample:
        what = "the run's last validation overlay (image | ground truth | prediction)"
        if kind == "generator":
            what = f"one row per class (the first {GRID_CLASSES}), one column per seed" if loaded.num_classes \
                else f"seeds 0-{GRID_SEEDS - 1} of the generator"
        out += [f"![samples]({sample})", "", f"{what.capitalize()}.", ""]
    else:
        out += ["No sample image: the run has no validation overlay.", ""]
    script = "predict_seg.py THIS_FOLDER images/ masks/ --color"
    if kind == "generator":  # a conditional grid has one row per class; --labels picks them (indices or class names)
        script = f"sample.py THIS_FOLDER --grid grid.png --labels 0-{len(grid_labels(loaded.num_classes)) - 1} " \
            f"--per-label {GRID_PER_CLASS}" if loaded.num_classes \
            else f"sample.py THIS_FOLDER --grid grid.png --seeds 0-{GRID_SEEDS - 1}"
    out += ["## Use", "", "From a gan-toolkit checkout, with THIS_FOLDER the path of this folder:", "", "```bash", f"python {script}", "python demo.py THIS_FOLDER", "```", "",
            "## Reproduce", "", f"The run's resolved config is `{HUB_TRAIN_CONFIG}`; from a gan-toolkit checkout:", "", "```bash",
            f"accelerate launch {TRAIN_SCRIPTS[kind]} --config {HUB_TRAIN_CONFIG} out_dir=runs/reproduced", "```", ""]
    return "\n".join(out)


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
        save_safetensors_atomic(loaded.model.state_dict(), tmp / HUB.weights)
        sample = _sample_image(loaded, tmp, run_dir)
        if loaded.meta.get("config"):
            (tmp / HUB_TRAIN_CONFIG).write_text(yaml.safe_dump(loaded.meta["config"], sort_keys=False))
        (tmp / HUB_CARD).write_text(model_card(loaded, find_evaluation(loaded.folder, run_dir), sample, license_id))
        write_json_atomic(tmp / HUB.meta, {HUB_KIND_KEY: loaded.kind, **loaded.meta})
        verify_reload(loaded, tmp, out_dir)

    replace_folder(out_dir, fill, replaced=HUB_FILES)
    return out_dir


def push_folder(folder: Path, repo_id: str) -> str:
    """Upload ``folder`` to the model repo ``repo_id``; returns its URL. Any failure is one line, the folder untouched."""
    with optional_extra("huggingface_hub", "hub"):
        import huggingface_hub as hub
    token = hub.get_token()
    if not token:
        raise ExportError(f"not logged in to the Hugging Face Hub (run `hf auth login` or set HF_TOKEN); nothing uploaded, '{folder}' is intact")
    try:
        api = hub.HfApi(token=token)
        api.create_repo(repo_id, repo_type="model", exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", commit_message="Upload gan-toolkit export")
    except Exception as err:  # network, auth, offline mode, bad repo id: all end the same way, in one line
        raise ExportError(f"could not push to the Hub repo '{repo_id}': {first_line(err)}; '{folder}' is intact") from None
    return str(getattr(commit, "commit_url", "") or f"{repo_id}")
