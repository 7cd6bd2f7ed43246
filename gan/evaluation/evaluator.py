"""Scoring generated images against a real dataset with torch-fidelity, stating the protocol.

Every result carries the protocol next to the values (image counts, real split, resolution,
feature extractor and the hash of its weights, metric settings), because published numbers
differ mostly by protocol and a number without it cannot be reproduced.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch_fidelity
import torch_fidelity.utils as fu  # attribute access at call time: tests may wrap these
from torch import nn
from torch_fidelity import GenerativeModelBase
from torch_fidelity.metric_fid import KEY_METRIC_FID
from torch_fidelity.metric_isc import isc_featuresdict_to_metric
from torch_fidelity.metric_kid import kid_featuresdict_to_metric
from torch_fidelity.metric_prc import prc_featuresdict_to_metric
from torch_fidelity.utils import create_feature_extractor
from torch.utils.data import Dataset, Subset
from tqdm.auto import tqdm

from ..config import MIN_EVAL_IMAGES as MIN_IMAGES
from ..config import DataConfig, EvalConfig, check_section
from ..data import build_image_dataset
from ..data.subset import seeded_subset
from .. import formats
from ..formats import write_json_atomic
from ..models.generate import generate
from . import bundled, class_metrics, fast, real_cache
from .extractors import ExtractorSpec, resolve_extractor
from .frechet import frechet_distance, symmetric_sqrt
from .inputs import GeneratorSource, UInt8Images, image_shape
from .metrics import Metric, parse_metrics, rename_results
from .weights import EvalError

KID_SUBSETS = 100  # torch-fidelity's default number of KID subsets
PRC_NEIGHBORHOOD = 3  # torch-fidelity's default k for precision/recall
SETTINGS_BY_FLAG = {"kid": ("kid_subsets", "kid_subset_size"), "isc": ("isc_splits",), "prc": ("prc_neighborhood",)}


@dataclass
class EvalResult:
    values: dict[str, float]
    protocol: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"metrics": self.values, "protocol": self.protocol}


def default_cache_dir(out_dir: str | Path) -> Path:
    """``<out_dir>/../.fidelity_cache``: shared by the runs of one folder, so real stats are computed once."""
    return Path(out_dir).resolve().parent / ".fidelity_cache"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/gan-toolkit/fidelity_cache`` (default ``~/.cache``): evaluate.py's default.

    Not a folder next to the evaluated run, which may have been downloaded along with a crafted cache.
    """
    return formats.user_cache_dir("fidelity_cache")


def check_eval_config(cfg: EvalConfig) -> None:
    """The config's own range checks, for an EvalConfig built in code rather than loaded."""
    check_section(cfg, "eval.", EvalError)


class Evaluator:
    """Scores generators or image tensors against the real data of ``data`` (real stats cached)."""

    def __init__(self, cfg: EvalConfig, data: DataConfig, cache_dir: str | Path, device: str | torch.device = "cpu") -> None:
        check_eval_config(cfg)
        self.cfg, self.data, self.cache_dir = cfg, data, Path(cache_dir)
        self.device = torch.device(device)
        requested = parse_metrics(cfg.metrics)
        self.metrics: list[Metric] = [m for m in requested if m.fidelity]  # the torch-fidelity ones
        self.classifier = class_metrics.load_classifier(cfg.classifier_path, cfg.trust_torchscript) if len(requested) > len(self.metrics) else None
        # class_accuracy alone needs no feature extractor (nor Inception weights)
        self.extractor: ExtractorSpec = resolve_extractor(
            cfg.feature_extractor, cfg.inception_weights, cfg.feature_extractor_path, cfg.download_weights, cfg.trust_torchscript,
            need_logits=any(m.flag == "isc" for m in self.metrics),
        ) if self.metrics or cfg.per_class else None  # type: ignore[assignment]
        self._real: Dataset | None = None
        self._full_size = 0
        self._fe: Any = None
        # sqrt of the real covariance, reused across periodic evaluations with many samples
        self._real_sqrt: Any = None
        self._real_sqrt_key = ""

    # ---- real data ----------------------------------------------------------------------------

    def real_dataset(self) -> Dataset:
        """The real images compared against (built once; a seeded subset when ``eval.num_real`` > 0)."""
        if self._real is None:
            # Read once: no decoded cache. The whole dataset, also for a run trained on data.limit images.
            full = build_image_dataset(dataclasses.replace(self.data, cache="none", limit=0))
            self._full_size = len(full)  # type: ignore[arg-type]
            self._real = seeded_subset(full, self.cfg.num_real, self.cfg.seed)
        return self._real

    def real_key(self) -> tuple[str, dict[str, Any]]:
        """The real-statistics cache name and what it stands for."""
        real = self.real_dataset()
        parts = real_cache.real_key_parts(self.data, self._full_size, len(real), self.cfg.seed, self.extractor)  # type: ignore[arg-type]
        return real_cache.real_cache_name(parts), parts

    # ---- scoring ------------------------------------------------------------------------------

    def evaluate_generator(self, generator: nn.Module, nz: int, num_samples: int | None = None, progress: bool = True, source: str = "",
                           num_classes: int = 0) -> EvalResult:
        """Score ``num_samples`` (default ``eval.num_samples``) images of ``generator`` (z ~ N(0, I)).

        ``num_classes`` > 0 (from the export's ``model.num_classes``): a conditional generator, called
        as ``generator(z, c)`` with labels uniform over the classes; adds ``class_accuracy`` and, with
        ``eval.per_class``, the per-class FIDs (:mod:`gan.evaluation.class_metrics`).
        """
        n = num_samples or self.cfg.num_samples
        generator.eval()
        probe_label = torch.zeros(1, dtype=torch.long) if num_classes else None
        probe = generate(generator, torch.zeros(1, nz), 1, labels=probe_label, keep_on_device=True)
        self._check_shape(tuple(probe.shape[1:]), "the generator")
        if self.classifier is not None and not num_classes:
            raise EvalError("eval.metrics: class_accuracy needs a class-conditional generator (its export's model.num_classes > 0)")
        generated = {"source": source or "generator", "latents": "N(0, I), torch-fidelity numpy RandomState(eval.seed)"}
        if num_classes:
            generated.update(num_classes=num_classes, labels="uniform over the classes, torch.Generator seeded by eval.seed")
        if self.metrics:
            with tqdm(total=n, desc="eval: generated", unit="img", disable=not progress, leave=False) as bar:
                fake = GeneratorSource(generator, nz, bar, classes=num_classes, seed=self.cfg.seed)
                result = self._score(fake, n, generated, progress)
        else:
            result = EvalResult({}, {"generated": {**generated, "num_images": n}, "resolution": self.data.resolution, "channels": self.data.channels})
        if self.classifier is not None:
            result.values["class_accuracy"] = class_metrics.class_accuracy(
                generator, nz, num_classes, self.classifier, n, self.cfg.batch_size, self.cfg.seed, progress)
            result.protocol["class_accuracy"] = {"classifier": str(Path(self.cfg.classifier_path).expanduser().resolve()), "num_images": n,
                                                 "labels_and_latents": "torch.Generator seeded by eval.seed (labels uniform over the classes)"}
        if self.cfg.per_class and num_classes:
            values, protocol = self.per_class_fid(generator, nz, num_classes, n, progress)
            result.values.update(values)
            result.protocol["per_class"] = protocol
        elif self.cfg.per_class:
            result.protocol["per_class"] = "not computed: the generator is unconditional"
        return result

    def evaluate_images(self, images: torch.Tensor, progress: bool = True, source: str = "image tensor") -> EvalResult:
        """Score already generated [-1, 1] images ``(N, C, H, W)``."""
        if not self.metrics:
            raise EvalError("eval.metrics: class_accuracy scores a conditional generator, not an image tensor; ask for fid, kid, is or prc")
        if images.dim() != 4 or images.shape[0] < MIN_IMAGES:
            raise EvalError(f"expected at least {MIN_IMAGES} images as (N, C, H, W), got shape {tuple(images.shape)}")
        self._check_shape(tuple(images.shape[1:]), source)
        with tqdm(total=len(images), desc="eval: generated", unit="img", disable=not progress, leave=False) as bar:
            return self._score(UInt8Images(images, bar), len(images), {"source": source}, progress)

    def per_class_fid(self, generator: nn.Module, nz: int, classes: int, count: int,
                      progress: bool = False) -> tuple[dict[str, float], dict[str, Any]]:
        """``fid_class<k>`` for each class and their mean ``intra_fid``, with the protocol of each class
        (:mod:`gan.evaluation.class_metrics`)."""
        real = self.real_dataset()
        what = f"the real data ({self.data.name}, {len(real)} images)"  # type: ignore[arg-type]
        by_class = class_metrics.class_indices(real, classes, what)
        layer = self.extractor.layer("fid")
        base, parts = self.real_key()
        per_class = max(MIN_IMAGES, count // classes)
        values: dict[str, float] = {}
        entries = []
        for k, indices in enumerate(by_class):
            name = f"{base}-class{k}"
            real_cache.describe_key(self.cache_dir, name, {**parts, "class": k, "class_images": len(indices)})

            def compute(indices: list[int] = indices) -> dict[str, torch.Tensor]:
                return self.dataset_features(UInt8Images(Subset(real, indices)))

            _, stats, hit = real_cache.load_or_compute(self.cache_dir, name, layer, [], compute)
            with tqdm(total=per_class, desc=f"eval: class {k}", unit="img", disable=not progress, leave=False) as bar:
                fake = GeneratorSource(generator, nz, bar, classes=classes, label=k)
                feats = self.generated_features(fake, per_class)
            fake_feats = feats[layer].numpy()  # type: ignore[index]
            values[f"fid_class{k}"] = frechet_distance(fake_feats, stats["mu"], stats["sigma"])
            entries.append({"label": k, "generated": per_class, "real": len(indices),
                            "real_cache": {"name": name, "hit": hit}})
        values["intra_fid"] = sum(values.values()) / classes
        protocol = {
            "metric": "FID per class k: images generated with label k vs the real images labelled k; "
                      "intra_fid = their mean",
            "num_classes": classes,
            "latents": "N(0, I), torch-fidelity numpy RandomState(eval.seed), the same for every class",
            "classes": entries,
        }
        return values, protocol

    def _check_shape(self, fake: tuple[int, ...], what: str) -> None:
        if not self._needs_real():
            return
        real = image_shape(self.real_dataset()[0])
        if fake != real:
            raise EvalError(f"{what} makes images of shape {fake} but the real data ({self.data.name}) has {real}; set data.resolution/data.channels to match")

    def _needs_real(self) -> bool:
        return any(m.needs_real for m in self.metrics)

    def _layers(self) -> dict[str, str]:
        return {m.flag: self.extractor.layer(m.flag) for m in self.metrics}

    def feature_extractor(self) -> Any:
        """torch-fidelity's extractor for every layer the metrics need, built once per evaluator."""
        if self._fe is None:
            layers = sorted(set(self._layers().values()) | ({self.extractor.layer("fid")} if self.cfg.per_class else set()))
            weights = self.extractor.weights
            fe = create_feature_extractor(
                self.extractor.name, layers, cuda=self.device.type == "cuda", verbose=False,
                feature_extractor_weights_path=str(weights) if weights else None,
            )
            self._fe = fast.prepare_extractor(fe, self.device)
        return self._fe

    def dataset_features(self, images: Dataset) -> dict[str, torch.Tensor]:
        """Features (every layer the metrics need) of a dataset of uint8 ``(3, H, W)`` images, in inference mode."""
        with torch.inference_mode():
            return fu.get_featuresdict_from_dataset(images, self.feature_extractor(), self.cfg.batch_size, self.device.type == "cuda", True, False)

    def generated_features(self, source: GenerativeModelBase, count: int) -> dict[str, torch.Tensor]:
        """Features of ``count`` images of ``source`` (latents from torch-fidelity's RandomState(eval.seed)), in inference mode."""
        with torch.inference_mode():
            return fu.get_featuresdict_from_generative_model(source, self.feature_extractor(), count, self.cfg.batch_size,
                                                             self.device.type == "cuda", self.cfg.seed, False)

    def _check_counts(self, n_fake: int) -> None:
        n_real = len(self.real_dataset()) if self._needs_real() else n_fake  # type: ignore[arg-type]
        need = PRC_NEIGHBORHOOD + 1 if any(m.flag == "prc" for m in self.metrics) else MIN_IMAGES
        if min(n_fake, n_real) < need:
            raise EvalError(f"{n_fake} generated and {n_real} real images; the requested metrics need at least {need} of each")

    def _score(self, fake: Any, n_fake: int, generated: dict[str, Any], progress: bool) -> EvalResult:
        self._check_counts(n_fake)
        kwargs = self._fidelity_kwargs(n_fake)
        layers = self._layers()
        fake_feats = self.generated_features(fake, n_fake) if isinstance(fake, GenerativeModelBase) else self.dataset_features(fake)
        raw: dict[str, float] = {}
        cache_hit = None
        if self._needs_real():
            real_feats, real_stats, cache_hit = self._real_features(layers, progress)
            if "fid" in layers:
                raw[KEY_METRIC_FID] = self._fid(fake_feats[layers["fid"]].numpy(), real_stats)
            if "kid" in layers:
                raw.update(kid_featuresdict_to_metric(fake_feats, real_feats, layers["kid"], **kwargs))
            if "prc" in layers:
                raw.update(prc_featuresdict_to_metric(fake_feats, real_feats, layers["prc"], **kwargs))
        if "isc" in layers:
            raw.update(isc_featuresdict_to_metric(fake_feats, layers["isc"], **kwargs))
        protocol = self._protocol(kwargs, {**generated, "num_images": n_fake}, cache_hit)
        return EvalResult(rename_results(raw, self.metrics), protocol)

    def _real_features(self, layers: dict[str, str], progress: bool) -> tuple[Any, Any, bool]:
        """Real features (KID/PRC) and FID statistics, from the safe cache or computed and cached."""
        name, parts = self.real_key()
        real_cache.describe_key(self.cache_dir, name, parts)

        def compute() -> dict[str, torch.Tensor]:  # no torch-fidelity cache involved
            total = len(self.real_dataset())  # type: ignore[arg-type]
            with tqdm(total=total, desc="eval: real (cached after)", unit="img", disable=not progress, leave=False) as bar:
                return self.dataset_features(UInt8Images(self.real_dataset(), bar))

        feature_layers = sorted({layers[f] for f in ("kid", "prc") if f in layers})
        return real_cache.load_or_compute(self.cache_dir, name, layers.get("fid"), feature_layers, compute)

    def _fid(self, fake: Any, real_stats: dict[str, Any]) -> float:
        """FID; with more samples than dimensions the real covariance's square root is reused."""
        root = None
        if fake.shape[0] - 1 >= fake.shape[1]:
            key = self.real_key()[0]
            if self._real_sqrt_key != key:
                self._real_sqrt, self._real_sqrt_key = symmetric_sqrt(real_stats["sigma"]), key
            root = self._real_sqrt
        return frechet_distance(fake, real_stats["mu"], real_stats["sigma"], root)

    def _fidelity_kwargs(self, n_fake: int) -> dict[str, Any]:
        n_real = len(self.real_dataset()) if self._needs_real() else n_fake  # type: ignore[arg-type]
        return {
            # never torch-fidelity's cache: it unpickles its files (real_cache.py keeps a safe one)
            "cache": False, "cuda": self.device.type == "cuda", "batch_size": self.cfg.batch_size, "rng_seed": self.cfg.seed,
            "kid_subsets": KID_SUBSETS, "kid_subset_size": min(self.cfg.kid_subset_size, n_fake, n_real),
            "isc_splits": min(self.cfg.isc_splits, n_fake), "prc_neighborhood": PRC_NEIGHBORHOOD,
            # no loader worker processes (safe inside training), and PRC distances in blocks
            "save_cpu_ram": True, "verbose": False,
        }

    def _protocol(self, kwargs: dict[str, Any], generated: dict[str, Any], cache_hit: bool | None) -> dict[str, Any]:
        spec, flags = self.extractor, [m.flag for m in self.metrics]
        out: dict[str, Any] = {
            "generated": generated,
            "resolution": self.data.resolution,
            "channels": self.data.channels,
            "feature_extractor": {
                "name": spec.kind, "registered_as": spec.name, "weights_file": str(spec.weights) if spec.weights else None,
                "weights_sha256": spec.sha256, "layers": {f: spec.layer(f) for f in flags},
            },
            "n_fake": generated["num_images"],
            "settings": {"rng_seed": kwargs["rng_seed"], **{k: kwargs[k] for f in flags for k in SETTINGS_BY_FLAG.get(f, ())}},
            "torch_fidelity": torch_fidelity.__version__,
        }
        if "fid" in flags:
            out["fid_formula"] = "torch-fidelity statistics (np.cov, ddof=1); trace term via symmetric eigenvalues"
        if spec.kind == "inception-v3-compat":
            out["feature_extractor"].update(resize=bundled.RESIZE, precision="float32")
        if spec.source_sha256:
            out["feature_extractor"]["network"] = spec.network
            out["feature_extractor"]["source_file"] = {"package": bundled.PACKAGE, "path": str(bundled.RELATIVE_PATH), "sha256": spec.source_sha256,
                                                       "converted": bundled.NOT_IN_SOURCE}
        if self._needs_real():
            name, parts = self.real_key()
            out["n_real"] = parts["num_real"]
            out["real"] = {**real_cache.data_identity(self.data), "num_images": parts["num_real"], "split_size": parts["dataset_size"], "subset_seed": self.cfg.seed, "preprocessing": parts["preprocessing"]}
            out["real_cache"] = {"dir": str(self.cache_dir), "name": name, "hit": cache_hit}
        return out


def write_result(path: str | Path, result: EvalResult, **extra: Any) -> Path:
    """Write ``{"metrics", "protocol", **extra}`` as JSON (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {**extra, **result.to_json()})
    return path
