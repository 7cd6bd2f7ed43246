"""The model card (``README.md``) of a hub folder, through ``huggingface_hub``'s ``ModelCard``, ``ModelCardData``
and ``EvalResult``.

The metadata starts from the model class's own card (:meth:`gan.models.pretrained.HubModel.generate_model_card`:
library, tags, ``pipeline_tag`` by kind) and adds the license, the public training dataset and the
evaluation results with their protocol (the ``model-index``); the body is :data:`TEMPLATE`.
"""
from __future__ import annotations

import json
import math
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..formats import HUB, HUB_TRAIN_CONFIG
from ..models.generate import GRID_CLASSES, GRID_PER_CLASS, GRID_SEEDS, grid_labels
from ..names import CONDITIONAL_TAG, EXPORT_LICENSE
from .source import Loaded

TRAIN_SCRIPTS = {"generator": "train_gan.py", "segmenter": "train_seg.py"}
# The card's ``datasets``: Hub ids of the public datasets the toolkit loads by name (the keys are names of
# gan.names.IMAGE_DATASETS / SEG_DATASETS). Others (shapes, a private folder, no canonical Hub copy) get none.
HUB_DATASETS = {"mnist": "ylecun/mnist", "fashion_mnist": "zalando-datasets/fashion_mnist", "cifar10": "uoft-cs/cifar10"}
THIS = "THIS_MODEL"  # stands for the repo id or folder in the card's commands
ARCHITECTURES = {
    "generator": "`gan.models.Generator` (latent -> 4x4 projection -> DeconvDecoder -> tanh image head; EMA weights)",
    "segmenter": "`gan.seg.model.SegmentationModel` (encoder -> DeconvDecoder with fused skips -> per-pixel class head)",
}
# The protocol fields that go into each evaluation result's metric_args (the whole protocol is in the card's text).
PROTOCOL_SUMMARY = {"num_generated": ("generated", "num_images"), "num_real": ("n_real",), "resolution": ("resolution",),
                    "feature_extractor": ("feature_extractor", "name"), "weights_sha256": ("feature_extractor", "weights_sha256")}

TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

Exported by gan-toolkit's `export.py --format hub` from a training run at step {{ step }}.

## Architecture

{{ architecture }}, {{ params }} parameters. Constructor arguments (`{{ config_file }}`, read by `from_pretrained`):

{{ arguments }}
{% if classes %}
Classes: {{ classes }}.
{% endif %}
## Training data and steps

{{ training }}

## Evaluation

{{ evaluation }}

## Samples

{{ samples }}

## Use

With gan-toolkit installed, `{{ this }}` being this model's Hub repo id (such as `user/my-gan`) or folder:

```python
{{ python }}
```

From a gan-toolkit checkout:

```bash
python {{ command }}
python demo.py {{ this }}
```

## Reproduce

The run's resolved config is `{{ train_config }}`; from a gan-toolkit checkout:

```bash
accelerate launch {{ train_script }} --config {{ train_config }} out_dir=runs/reproduced
```
"""

PYTHON = {
    "conditional": """import torch
from gan.models import Generator
from gan.generation.sampling import latents_for_seeds, save_grid

G = Generator.from_pretrained("{this}")
z = latents_for_seeds(range(8), G.nz)  # seed i: the latent of `sample.py --seeds i`
labels = torch.full((8,), 0)  # class 0 ({first}); the names are G.export_meta["label_names"]
with torch.no_grad():
    save_grid(G(z, labels), "samples.png")""",
    "unconditional": """import torch
from gan.models import Generator
from gan.generation.sampling import latents_for_seeds, save_grid

G = Generator.from_pretrained("{this}")
with torch.no_grad():
    save_grid(G(latents_for_seeds(range(64), G.nz)), "samples.png")  # seed i: the latent of `sample.py --seeds i`""",
    "segmenter": """from gan.seg.model import SegmentationModel
from gan.seg.predict import predict_image, read_image

S = SegmentationModel.from_pretrained("{this}")
mask = predict_image(S, read_image("image.png", S.channels), S.resolution)  # (H, W) class indices""",
}


def _table(rows: dict[str, Any], head: tuple[str, str]) -> str:
    lines = [f"| {head[0]} | {head[1]} |", "|---|---|"]
    lines += [f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in rows.items()]
    return "\n".join(lines)


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The finite numeric values of ``metrics`` (per-class lists and NaNs are left to the card's text)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def _protocol_summary(protocol: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, keys in PROTOCOL_SUMMARY.items():
        value: Any = protocol
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            out[name] = value
    return out


def title_of(loaded: Loaded) -> str:
    data = ((loaded.meta.get("config") or {}).get("data") or {})
    res = loaded.meta["model"].get("resolution")
    return f"DCGAN-style {loaded.kind} ({data.get('name', '?')}, {res}x{res})"


def eval_results(loaded: Loaded, evaluation: dict[str, Any] | None, task: str) -> list[EvalResult]:
    """The card's ``model-index``: one result per metric, with the dataset, split and protocol they were measured with."""
    data = ((loaded.meta.get("config") or {}).get("data") or {})
    name = str(data.get("name") or "unknown")
    if evaluation is not None:
        protocol = evaluation.get("protocol") or {}
        metrics, split = evaluation.get("metrics") or {}, (protocol.get("real") or {}).get("split")
        args = {**_protocol_summary(protocol), "step": evaluation.get("step")}
    elif loaded.kind == "segmenter" and isinstance(loaded.meta.get("metrics"), dict):
        metrics, split, args = loaded.meta["metrics"], data.get("split_eval", "val"), {"step": loaded.meta.get("step")}
    else:
        return []
    args = {k: v for k, v in args.items() if v is not None}
    return [EvalResult(task_type=task, dataset_type=HUB_DATASETS.get(name, name), dataset_name=name, dataset_split=split, metric_type=metric,
                       metric_value=value, metric_args=args or None) for metric, value in _scalars(metrics).items()]


def card_data(loaded: Loaded, evaluation: dict[str, Any] | None, license_id: str = EXPORT_LICENSE) -> ModelCardData:
    """The card's metadata: the model class's (library, tags, pipeline_tag), license, public dataset, evaluation results."""
    base = loaded.model.generate_model_card().data.to_dict()  # type: ignore[operator]
    data = ((loaded.meta.get("config") or {}).get("data") or {})
    base.update(license=license_id)
    if data.get("name") in HUB_DATASETS:
        base["datasets"] = [HUB_DATASETS[data["name"]]]
    results = eval_results(loaded, evaluation, base.get("pipeline_tag") or CONDITIONAL_TAG)
    return ModelCardData(**base, eval_results=results or None, model_name=title_of(loaded) if results else None)


def _evaluation_text(loaded: Loaded, evaluation: dict[str, Any] | None) -> str:
    if evaluation is not None:
        return "\n".join([f"At step {evaluation.get('step')}:", "", _table(evaluation["metrics"], ("metric", "value")), "",
                          "Protocol (how the numbers were measured):", "", "```json", json.dumps(evaluation.get("protocol", {}), indent=2), "```"])
    if loaded.kind == "segmenter" and loaded.meta.get("metrics"):
        rows = {k: v for k, v in loaded.meta["metrics"].items() if not isinstance(v, (list, dict))}
        return "Validation metrics of this export:\n\n" + _table(rows, ("metric", "value"))
    return "No evaluation results were found in the run (run `evaluate.py` on the export, or train with `eval.every`)."


def _samples_text(loaded: Loaded, sample: str | None) -> str:
    if not sample:
        return "No sample image: the run has no validation overlay."
    what = "the run's last validation overlay (image | ground truth | prediction)"
    if loaded.kind == "generator":
        what = f"one row per class (the first {GRID_CLASSES}), one column per seed" if loaded.num_classes \
            else f"seeds 0-{GRID_SEEDS - 1} of the generator"
    return f"![samples]({sample})\n\n{what.capitalize()}."


def _usage(loaded: Loaded) -> tuple[str, str]:
    """The Python snippet and the script command of the card's "Use" section."""
    if loaded.kind == "segmenter":
        return PYTHON["segmenter"].format(this=THIS), f"predict_seg.py {THIS} images/ masks/ --color"
    if not loaded.num_classes:
        return PYTHON["unconditional"].format(this=THIS), f"sample.py {THIS} --grid grid.png --seeds 0-{GRID_SEEDS - 1}"
    first = (loaded.label_names or ["0"])[0]  # a conditional grid has one row per class; --labels picks them (indices or names)
    rows = len(grid_labels(loaded.num_classes))
    return (PYTHON["conditional"].format(this=THIS, first=first),
            f"sample.py {THIS} --grid grid.png --labels 0-{rows - 1} --per-label {GRID_PER_CLASS}")


def model_card(loaded: Loaded, evaluation: dict[str, Any] | None, sample: str | None, license_id: str = EXPORT_LICENSE) -> ModelCard:
    """The ``README.md`` of a hub folder: metadata, architecture, data and steps, evaluation with protocol, samples, use, reproduce."""
    meta = loaded.meta
    cfg = meta.get("config") or {}
    data, train = cfg.get("data", {}), cfg.get("train", {})
    python, command = _usage(loaded)
    training = _table({
        "dataset": data.get("name"), "data root": "(procedural, embedded)" if data.get("name") == "shapes" else data.get("root"),
        "resolution": data.get("resolution"), "channels": data.get("channels"), "steps trained": meta.get("step"),
        "configured steps": train.get("steps"), "batch size": train.get("batch_size"), "loss": (cfg.get("loss") or {}).get("type"),
        "seed": train.get("seed"),
    }, ("setting", "value"))
    return ModelCard.from_template(
        card_data(loaded, evaluation, license_id), template_str=TEMPLATE, title=title_of(loaded), step=meta.get("step"),
        architecture=ARCHITECTURES[loaded.kind], params=f"{sum(p.numel() for p in loaded.model.parameters()):,}", config_file=HUB.meta,
        arguments=_table(meta["model"], ("argument", "value")), classes=", ".join(map(str, loaded.label_names)), training=training,
        evaluation=_evaluation_text(loaded, evaluation), samples=_samples_text(loaded, sample), this=THIS, python=python, command=command,
        train_config=HUB_TRAIN_CONFIG, train_script=TRAIN_SCRIPTS[loaded.kind],
    )
