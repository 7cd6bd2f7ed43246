"""Metrics of class-conditional generators: per-class FID (intra-FID) and ``class_accuracy``.

- **Intra-FID** (``eval.per_class``): for each class k, the FID between images generated with label
  k and the real images of class k (the real data's own labels), plus their mean ``intra_fid``.
  Each class gets ``eval.num_samples // num_classes`` generated images (at least 2); the real
  statistics of each class are cached like the whole set's, under the whole set's key + the class.
- **class_accuracy**: the fraction of generated images that a classifier (``eval.classifier_path``:
  a safetensors state dict of a module registered with ``register_module_extractor``, written by
  ``save_module_weights``, or a TorchScript file with ``eval.trust_torchscript=true``; float images
  ``(N, 3, H, W)`` in [0, 1] as the custom feature extractors get them, returning logits
  ``(N, num_classes)`` or ``(features, logits)``) assigns to the label they were generated with.
  Labels are uniform over the classes and, like the latents, seeded by ``eval.seed``.

Generated images reach both through the same uint8 conversion as every other metric.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset
from tqdm.auto import tqdm

from ..config import MIN_EVAL_IMAGES
from ..data import NO_LABEL
from ..engine.stop import raise_if_stop_requested
from . import real_cache
from .extractors import is_safetensors, load_module_weights, load_torchscript
from .frechet import frechet_distance
from .inputs import GeneratorSource, UInt8Images, to_uint8_rgb
from .weights import EvalError

if TYPE_CHECKING:
    from .evaluator import Evaluator

CLASSIFIER_KEY = "eval.classifier_path"


def load_classifier(path: str, trust_torchscript: bool = False) -> nn.Module:
    """The ``class_accuracy`` classifier; one-line :class:`EvalError` naming ``eval.classifier_path``.

    A safetensors file fills the registered module it names; anything else is TorchScript, loaded
    only with ``trust_torchscript`` (``eval.trust_torchscript``) because it runs code from the file.
    """
    if not path.strip():
        raise EvalError(f"{CLASSIFIER_KEY} is empty; the class_accuracy metric needs a classifier file "
                        "(safetensors of a registered module, or TorchScript with eval.trust_torchscript=true)")
    found = Path(path).expanduser().resolve()
    if found.is_file() and is_safetensors(found):
        net, _ = load_module_weights(found, CLASSIFIER_KEY)
        return net.eval().requires_grad_(False)
    return load_torchscript(found, CLASSIFIER_KEY, trusted=trust_torchscript).eval()


def classifier_logits(out: Any, count: int, classes: int) -> torch.Tensor:
    """Logits ``(count, classes)`` from a classifier's output (logits, or a ``(features, logits)`` tuple)."""
    logits = out[1] if isinstance(out, (tuple, list)) and len(out) == 2 else out
    if not torch.is_tensor(logits) or tuple(logits.shape) != (count, classes):
        got = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        raise EvalError(f"{CLASSIFIER_KEY}: the classifier returned logits {got}; expected ({count}, {classes}) "
                        f"for the generator's {classes} classes (logits, or a tuple (features, logits))")
    return logits


def seeded_inputs(count: int, nz: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents N(0, I) and labels uniform over ``classes``, both from ``seed``."""
    rng = torch.Generator().manual_seed(seed)
    return torch.randn(count, nz, generator=rng), torch.randint(classes, (count,), generator=rng)


@torch.no_grad()
def class_accuracy(generator: nn.Module, nz: int, classes: int, classifier: nn.Module, count: int, batch_size: int,
                   seed: int, progress: bool = False) -> float:
    """Fraction of ``count`` generated images that ``classifier`` assigns to their requested label."""
    device = next(generator.parameters()).device
    classifier = classifier.to(device)
    latents, labels = seeded_inputs(count, nz, classes, seed)
    correct = 0
    with tqdm(total=count, desc="eval: class accuracy", unit="img", disable=not progress, leave=False) as bar:
        for z, c in zip(latents.split(batch_size), labels.split(batch_size)):
            raise_if_stop_requested()
            images = to_uint8_rgb(generator(z.to(device), c.to(device))).float() / 255.0
            logits = classifier_logits(classifier(images), len(c), classes)
            correct += int((logits.argmax(1).cpu() == c).sum())
            bar.update(len(c))
    return correct / count


def labels_of(dataset: Dataset) -> list[int]:
    """The label of every item, read from a ``labels`` list where the dataset has one (no decoding)."""
    if isinstance(dataset, Subset):
        inner = labels_of(dataset.dataset)
        return [inner[i] for i in dataset.indices]
    labels = getattr(dataset, "labels", None)
    if labels is not None and len(labels) == len(dataset):  # type: ignore[arg-type]
        return [int(v) for v in labels]
    return [int(dataset[i][1]) for i in range(len(dataset))]  # type: ignore[arg-type]


def class_indices(dataset: Dataset, classes: int, what: str) -> list[list[int]]:
    """Indices of the real images of each class ``0..classes-1``; one-line errors when labels are missing."""
    labels = labels_of(dataset)
    if all(v == NO_LABEL for v in labels):
        raise EvalError(f"eval.per_class needs labelled real images, but {what} has none (image folders: data.labels=folders)")
    by_class: list[list[int]] = [[] for _ in range(classes)]
    for i, v in enumerate(labels):
        if 0 <= v < classes:
            by_class[v].append(i)
    short = [k for k in range(classes) if len(by_class[k]) < MIN_EVAL_IMAGES]
    if short:
        k = short[0]
        raise EvalError(f"eval.per_class: class {k} has {len(by_class[k])} real images in {what}; "
                        f"the generator has {classes} classes and FID needs at least {MIN_EVAL_IMAGES} real images of each")
    return by_class


def per_class_fid(ev: "Evaluator", generator: nn.Module, nz: int, classes: int, count: int,
                  progress: bool = False) -> tuple[dict[str, float], dict[str, Any]]:
    """``fid_class<k>`` for each class and their mean ``intra_fid``, with the protocol of each class."""
    real = ev.real_dataset()
    by_class = class_indices(real, classes, f"the real data ({ev.data.name}, {len(real)} images)")  # type: ignore[arg-type]
    layer = ev.extractor.layer("fid")
    base, parts = ev.real_key()
    per_class = max(MIN_EVAL_IMAGES, count // classes)
    values: dict[str, float] = {}
    entries = []
    for k, indices in enumerate(by_class):
        name = f"{base}-class{k}"
        real_cache.describe_key(ev.cache_dir, name, {**parts, "class": k, "class_images": len(indices)})

        def compute(indices: list[int] = indices) -> dict[str, torch.Tensor]:
            return ev.dataset_features(UInt8Images(Subset(real, indices)))

        _, stats, hit = real_cache.load_or_compute(ev.cache_dir, name, layer, [], compute)
        with tqdm(total=per_class, desc=f"eval: class {k}", unit="img", disable=not progress, leave=False) as bar:
            fake = GeneratorSource(generator, nz, bar, classes=classes, label=k)
            feats = ev.generated_features(fake, per_class)
        values[f"fid_class{k}"] = frechet_distance(feats[layer].numpy(), stats["mu"], stats["sigma"])  # type: ignore[index]
        entries.append({"label": k, "generated": per_class, "real": len(indices), "real_cache": {"name": name, "hit": hit}})
    values["intra_fid"] = sum(values.values()) / classes
    protocol = {"metric": "FID per class k: images generated with label k vs the real images labelled k; intra_fid = their mean",
                "num_classes": classes, "latents": "N(0, I), torch-fidelity numpy RandomState(eval.seed), the same for every class",
                "classes": entries}
    return values, protocol


__all__ = ["class_accuracy", "class_indices", "classifier_logits", "labels_of", "load_classifier", "per_class_fid", "seeded_inputs"]
