"""Typed configuration: dataclass schemas, safe YAML files and dotted command-line overrides.

A config is a tree of dataclasses. Values from a YAML file and from ``key=value`` overrides go
through the same checks: unknown keys, wrong types, invalid choices and out-of-range values raise
:class:`ConfigError` with one line naming the key, the bad value and what is allowed, when the
config is loaded (so ``--dry-run`` catches them). Nothing in a config can name a class or function
to import; YAML is read with ``yaml.safe_load``.

Each section is a :class:`Section` whose ``checks()`` lists its range checks. Settings that may
change when a run is resumed are marked where they are declared, with :func:`resumable`.

This module holds the machinery and the sections shared by the jobs; each job's own schema lives
with the job (``gan.generation.config``, ``gan.seg.config``).
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from pathlib import Path
from typing import Any, Iterator, Literal, TypeVar

import yaml

from .errors import UserError
from .names import BAD_IMAGE_POLICIES, DATA_CACHE_MODES, EVAL_METRIC_ALIASES, EVAL_METRICS, FOLDER_LABELS, IMAGE_DATASETS, MIXED_PRECISION, ON_NONFINITE, TRACKERS

T = TypeVar("T")
RESUMABLE = "resumable"  # field metadata flag: the value may differ from the checkpoint's on resume
MIN_EVAL_IMAGES = 2  # a covariance needs two samples
MAX_CHANNELS = 2048  # BigGAN-sized stages at most; catches typos that would allocate tens of GB
MAX_LATENT = 4096


class ConfigError(UserError):
    """A config problem, reported to the user as one line."""


def resumable(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field whose value may change when a run is resumed (it does not change the model or data)."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={RESUMABLE: True})


# (field name relative to the section; passed?; what was expected) and optionally the offending value
# when it is not the whole field (e.g. one bad name of a list).
Check = tuple


class Section:
    """A config section: dataclass fields plus the range checks that types cannot express."""

    def checks(self) -> list[Check]:
        return []


def positive(section: Any, *names: str) -> list[Check]:
    """``name >= 1`` checks for integer fields."""
    return [(n, getattr(section, n) >= 1, ">= 1") for n in names]


def finite_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def adam_checks(section: Any, *lr_names: str) -> list[Check]:
    """Checks of an Adam/AdamW section: positive finite learning rates, betas in [0, 1), weight decay >= 0."""
    return [(n, finite_positive(getattr(section, n)), "> 0") for n in lr_names] + [
        ("beta1", 0.0 <= section.beta1 < 1.0, "in [0, 1)"),
        ("beta2", 0.0 <= section.beta2 < 1.0, "in [0, 1)"),
        ("weight_decay", section.weight_decay >= 0, ">= 0"),
    ]


def valid_cpu_threads(value: Any) -> bool:
    """``train.cpu_threads`` is ``auto`` or a positive integer."""
    text = str(value).strip()
    return text == "auto" or (text.isdigit() and int(text) >= 1)


# ----------------------------------------------------------------------------------------------
# Sections shared by the jobs.


@dataclasses.dataclass
class DataConfig(Section):
    """Image data of GAN training and of the evaluation's real images."""

    name: Literal[IMAGE_DATASETS] = "shapes"  # type: ignore[valid-type]
    root: str = "data"  # dataset folder (image_folder) or torchvision download root
    resolution: int = 32
    channels: int = 3
    download: bool = resumable(False)  # torchvision datasets download only when this is true
    split: str = "train"
    labels: Literal[FOLDER_LABELS] = "none"  # type: ignore[valid-type]  # image_folder: "folders" = one subfolder per class
    lsun_classes: str = "bedroom_train"
    shapes_size: int = 10000  # number of images in the procedural shapes dataset
    shapes_seed: int = 0
    num_workers: int = resumable(0)
    on_bad_image: Literal[BAD_IMAGE_POLICIES] = "skip"  # type: ignore[valid-type]
    # Larger images (by their header) are bad images; PIL's default limit. Resumable: lowering it is how a run gets past a bad file.
    max_image_pixels: int = resumable(89_478_485)
    cache: Literal[DATA_CACHE_MODES] = resumable("auto")  # type: ignore[valid-type]  # decoded-image cache (gan/data/cache.py)
    cache_dir: str = resumable("")  # disk cache folder; "" = $XDG_CACHE_HOME/gan-toolkit/data (~/.cache/...)

    def checks(self) -> list[Check]:
        return [
            ("resolution", 8 <= self.resolution <= 256, "8..256"),
            ("channels", self.channels in (1, 3), "1 or 3"),
            ("num_workers", self.num_workers >= 0, ">= 0"),
            ("shapes_size", self.shapes_size > 0, "> 0"),
            ("root", bool(self.root.strip()), "a folder name"),
            ("max_image_pixels", self.max_image_pixels >= 1, ">= 1"),
        ]


@dataclasses.dataclass
class TrainConfig(Section):
    """The loop settings every job has."""

    steps: int = resumable(1000)  # optimizer steps of the main model (the generator for GANs)
    batch_size: int = 64  # per process, per micro-batch
    grad_accum: int = 1
    mixed_precision: Literal[MIXED_PRECISION] = "no"  # type: ignore[valid-type]
    seed: int = 0
    on_nonfinite: Literal[ON_NONFINITE] = resumable("error")  # type: ignore[valid-type]
    cpu_threads: str = resumable("auto")  # CPU runs: "auto" = physical cores / local processes, or a thread count
    # Multi-process runs: a collective (all-reduce, barrier) that waits longer fails instead of hanging
    # on a stalled rank. Longer than any main-process-only work (FID evaluation, export) the others wait for.
    collective_timeout_s: int = resumable(1800)

    def checks(self) -> list[Check]:
        return positive(self, "steps", "batch_size", "grad_accum", "collective_timeout_s") + [
            ("cpu_threads", valid_cpu_threads(self.cpu_threads), "'auto' or a positive integer"),
        ]


@dataclasses.dataclass
class LogConfig(Section):
    tracker: Literal[TRACKERS] = "wandb"  # type: ignore[valid-type]
    project: str = "gan-toolkit"
    every: int = 25  # steps between tracker logs and progress-bar updates of the averages

    def checks(self) -> list[Check]:
        return positive(self, "every")


@dataclasses.dataclass
class CheckpointConfig(Section):
    every: int = 1000
    keep: int = 3

    def checks(self) -> list[Check]:
        return [("keep", self.keep >= 2, ">= 2"), ("every", self.every >= 1, ">= 1")]


@dataclasses.dataclass
class EvalConfig(Section):
    """FID/KID/IS/PR evaluation of a generator (periodic during training, or ``evaluate.py``)."""

    every: int = 0  # 0 disables periodic evaluation
    num_samples: int = 5000
    metrics: list[str] = dataclasses.field(default_factory=lambda: ["fid"])
    batch_size: int = 64
    inception_weights: str = ""  # path to torch-fidelity's pt_inception weights; "" = torch hub cache
    cache_dir: str = ""  # real-statistics cache; "" = <out_dir>/../.fidelity_cache
    feature_extractor: str = "inception-v3-compat"
    feature_extractor_path: str = ""  # TorchScript file for a custom extractor
    num_real: int = 0  # real images compared against; 0 = the whole split
    kid_subset_size: int = 1000  # capped at the number of generated / real images
    isc_splits: int = 10
    seed: int = 2020  # torch-fidelity's rng_seed: latents, KID subsets, IS shuffling, real subset
    download_weights: bool = False  # fetch missing Inception weights into the torch hub cache (needs network)

    def checks(self) -> list[Check]:
        n = MIN_EVAL_IMAGES
        unknown = [m for m in self.metrics if EVAL_METRIC_ALIASES.get(m.strip().lower(), m.strip().lower()) not in EVAL_METRICS]
        return [
            ("metrics", bool(self.metrics) and not unknown, "some of " + ", ".join(EVAL_METRICS + tuple(EVAL_METRIC_ALIASES)),
             unknown[0] if unknown else self.metrics),
            ("every", self.every >= 0, ">= 0"),
            ("num_samples", self.num_samples >= n, f">= {n}"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("num_real", self.num_real == 0 or self.num_real >= n, f"0 (all) or >= {n}"),
            ("kid_subset_size", self.kid_subset_size >= n, f">= {n}"),
            ("isc_splits", self.isc_splits >= 1, ">= 1"),
        ]


@dataclasses.dataclass
class RunConfig(Section):
    """Top-level keys of every job: where the run lives and how it starts."""

    out_dir: str = resumable("runs/default")
    resume: str = resumable("")  # "", "latest" or a checkpoint folder
    overwrite: bool = resumable(False)  # a fresh run into an out_dir holding another run's outputs deletes them first

    def checks(self) -> list[Check]:
        return [
            ("out_dir", bool(self.out_dir.strip()), "a folder name (it must not be empty)"),
            ("overwrite", not (self.overwrite and self.resume),
             f"false with resume='{self.resume}' (overwrite=true deletes the run in out_dir, resume continues it: set only one)"),
        ]


# ----------------------------------------------------------------------------------------------
# Loading, overriding and checking.


def _describe(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(tp))
    if typing.get_origin(tp) is list:
        return f"a list of {typing.get_args(tp)[0].__name__}"
    return tp.__name__


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Return ``value`` converted to the schema type ``tp`` or raise a one-line ConfigError."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"config key '{key}': got {value!r}, expected {_describe(tp)}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad
        return value
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise bad
        return [coerce(v, item, key) for v in value]
    if isinstance(value, bool) and tp is not bool:
        raise bad
    if tp is bool:
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int and isinstance(value, (int, str)):
        try:
            return int(value)
        except ValueError:
            raise bad from None
    if tp is float and isinstance(value, (int, float, str)):  # YAML 1.1 reads "1e-4" as a string
        try:
            out = float(value)
        except ValueError:
            raise bad from None
        if not math.isfinite(out):
            raise ConfigError(f"config key '{key}': got {value!r}, expected a finite number")
        return out
    if tp is str and isinstance(value, (str, int, float)):
        return str(value)
    raise bad


def _fields(cls: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls)}


def _unknown(key: str, name: str, known: list[str]) -> ConfigError:
    parent = key[: -len(name)]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{parent}{close[0]}'?)" if close else f"; known keys: {', '.join(parent + k for k in known)}"
    return ConfigError(f"unknown config key '{key}'{hint}")


def _set(obj: Any, dotted: str, value: Any, parent: str = "") -> None:
    """Set ``obj.<dotted>`` to ``value`` after checking the key and coercing the value.

    ``parent`` is the dotted path of ``obj`` itself, used only to name keys in errors.
    """
    parts = dotted.split(".")
    target, prefix = obj, [parent] if parent else []
    for i, name in enumerate(parts):
        fields = _fields(type(target))
        key = ".".join(prefix + [name])
        if name not in fields:
            raise _unknown(key, name, list(fields))
        _, tp = fields[name]
        prefix.append(name)
        if dataclasses.is_dataclass(tp):
            if i == len(parts) - 1:
                if not isinstance(value, dict):
                    raise ConfigError(f"config key '{key}': got {value!r}, expected a mapping")
                for sub, sub_value in value.items():
                    _set(getattr(target, name), str(sub), sub_value, key)
                return
            target = getattr(target, name)
            continue
        if i != len(parts) - 1:
            raise ConfigError(f"config key '{key}' is a {_describe(tp)}, it has no sub-key")
        setattr(target, name, coerce(value, tp, key))


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``a.b=value``; the value is read as YAML so lists and numbers work."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. train.steps=200)")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), "" if value is None else value


def read_config_file(path: Path) -> dict:
    """The mapping in a YAML config file, or a one-line ConfigError naming the file."""
    if path.is_dir():
        raise ConfigError(f"config file '{path}' is a folder; expected a YAML file (see configs/)")
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file '{path}' is not UTF-8 text (byte {err.start}); expected a YAML file") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file '{path}' is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of keys, got {type(data).__name__}")
    return data


def load_config(schema: type[T], path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> T:
    """Build ``schema`` defaults, apply a YAML file, then ``key=value`` overrides, then check every range."""
    cfg = schema()
    if path is not None:
        path = Path(path)
        data = read_config_file(path)
        try:
            for key, value in data.items():
                _set(cfg, str(key), value)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
    for text in overrides:
        _set(cfg, *parse_override(text))
    validate(cfg)
    return cfg


def from_dict(schema: type[T], data: dict) -> T:
    """Rebuild and check a config from :func:`to_dict` output (e.g. the copy stored in a checkpoint)."""
    cfg = schema()
    for key, value in data.items():
        _set(cfg, key, value)
    validate(cfg)
    return cfg


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def to_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (trackers want flat keys)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def sections(cfg: Any, prefix: str = "") -> Iterator[tuple[str, Section]]:
    """``(dotted prefix, section)`` for ``cfg`` and every section below it, top first."""
    if isinstance(cfg, Section):
        yield prefix, cfg
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            yield from sections(value, f"{prefix}{f.name}.")


def _lookup(cfg: Any, dotted: str) -> Any:
    for name in dotted.split("."):
        cfg = getattr(cfg, name)
    return cfg


def check_section(section: Section, prefix: str, error: type[UserError] = ConfigError) -> None:
    """Raise ``error`` (one line) for the first failed range check of ``section``, named ``<prefix><field>``."""
    for name, ok, expected, *value in section.checks():
        if not ok:
            got = value[0] if value else _lookup(section, name)
            raise error(f"config key '{prefix}{name}': got {got!r}, expected {expected}")


def validate(cfg: Any) -> None:
    """Run every section's range checks; the first failure is a one-line ConfigError."""
    for prefix, section in sections(cfg):
        check_section(section, prefix)


def is_resumable(schema: type, dotted: str) -> bool:
    """True when ``dotted`` (or a section holding it) is marked :func:`resumable`, or is not in ``schema`` any more.

    A key the schema no longer has (e.g. from a checkpoint of an older version) means nothing now.
    """
    cls: Any = schema
    for name in dotted.split("."):
        fields = _fields(cls) if dataclasses.is_dataclass(cls) else {}
        if name not in fields:
            return True
        f, tp = fields[name]
        if f.metadata.get(RESUMABLE):
            return True
        cls = tp
    return False
