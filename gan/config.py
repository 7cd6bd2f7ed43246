"""Typed configuration: dataclass schemas, safe YAML files and dotted command-line overrides.

A config is a tree of dataclasses. Values from a YAML file and from ``key=value`` overrides go
through the same checks: unknown keys, wrong types and invalid choices raise :class:`ConfigError`
with one line naming the key, the bad value and what is allowed. Nothing in a config can name a
class or function to import; YAML is read with ``yaml.safe_load``.
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config problem, reported to the user as one line."""


# ----------------------------------------------------------------------------------------------
# Schema sections shared by the GAN and segmentation jobs.


@dataclasses.dataclass
class DataConfig:
    name: Literal[
        "shapes", "mnist", "fashion_mnist", "cifar10", "celeba", "lsun", "image_folder"
    ] = "shapes"
    root: str = "data"  # dataset folder (image_folder) or torchvision download root
    resolution: int = 32
    channels: int = 3
    download: bool = False  # torchvision datasets download only when this is true
    split: str = "train"
    lsun_classes: str = "bedroom_train"
    shapes_size: int = 10000  # number of images in the procedural shapes dataset
    shapes_seed: int = 0
    num_workers: int = 0
    on_bad_image: Literal["skip", "error"] = "skip"


@dataclasses.dataclass
class ModelConfig:
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    max_channels: int = 512
    upsample: Literal["transposed", "resize_conv", "pixel_shuffle"] = "transposed"
    g_norm: Literal["batch", "none"] = "batch"
    d_norm: Literal["batch", "spectral", "none"] = "batch"


@dataclasses.dataclass
class LossConfig:
    type: Literal["nonsaturating", "hinge", "wgan_gp", "lsgan"] = "nonsaturating"
    gp_weight: float = 10.0  # used by wgan_gp
    r1_gamma: float = 0.0  # R1 penalty on real images; 0 disables it


@dataclasses.dataclass
class OptimConfig:
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 0.0


@dataclasses.dataclass
class TrainConfig:
    steps: int = 1000  # optimizer steps of the main model (the generator for GANs)
    batch_size: int = 64  # per process, per micro-batch
    d_steps: int = 1
    grad_accum: int = 1
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    ema_decay: float = 0.999
    ema_start: int = 0  # EMA copies the weights until this step, then averages
    seed: int = 0
    on_nonfinite: Literal["error", "skip"] = "error"
    # Multi-process runs: a collective (all-reduce, barrier) that waits longer fails instead of hanging
    # on a stalled rank. Longer than any main-process-only work (FID evaluation, export) the others wait for.
    collective_timeout_s: int = 1800


@dataclasses.dataclass
class LogConfig:
    tracker: Literal["wandb", "tensorboard", "none"] = "wandb"
    project: str = "gan-toolkit"
    every: int = 25  # steps between tracker logs and progress-bar updates of the averages
    sample_every: int = 500
    num_samples: int = 64  # images in the fixed-noise sample grid


@dataclasses.dataclass
class CheckpointConfig:
    every: int = 1000
    keep: int = 3


@dataclasses.dataclass
class EvalConfig:
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


@dataclasses.dataclass
class GANConfig:
    out_dir: str = "runs/default"
    resume: str = ""  # "", "latest" or a checkpoint folder
    overwrite: bool = False  # a fresh run into an out_dir holding another run's outputs deletes them first
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    log: LogConfig = dataclasses.field(default_factory=LogConfig)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)


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
        choices = typing.get_args(tp)
        if value not in choices:
            raise bad
        return value
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise bad
        return [coerce(v, item, key) for v in value]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad
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


def load_config(
    schema: type[T], path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> T:
    """Build ``schema`` defaults, apply a YAML file, then ``key=value`` overrides, then check."""
    cfg = schema()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file '{path}' does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file '{path}' is not valid YAML: {str(err).splitlines()[0]}")
        if not isinstance(data, dict):
            raise ConfigError(f"config file '{path}' must hold a mapping of keys, got {type(data).__name__}")
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
    """Rebuild a config from :func:`to_dict` output (e.g. the copy stored in a checkpoint)."""
    cfg = schema()
    for key, value in data.items():
        _set(cfg, key, value)
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


def _check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"config key '{key}': got {value!r}, expected {expected}")


def validate(cfg: Any) -> None:
    """Range checks that types alone cannot express (applies to any schema with these sections)."""
    data = getattr(cfg, "data", None)
    if data is not None:
        _check(8 <= data.resolution <= 256, "data.resolution", data.resolution, "8..256")
        _check(data.channels in (1, 3), "data.channels", data.channels, "1 or 3")
        _check(data.num_workers >= 0, "data.num_workers", data.num_workers, ">= 0")
        _check(data.shapes_size > 0, "data.shapes_size", data.shapes_size, "> 0")
    train = getattr(cfg, "train", None)
    if train is not None:
        for key in ("steps", "batch_size", "d_steps", "grad_accum", "collective_timeout_s"):
            _check(getattr(train, key) >= 1, f"train.{key}", getattr(train, key), ">= 1")
        _check(0.0 <= train.ema_decay < 1.0, "train.ema_decay", train.ema_decay, "in [0, 1)")
    ckpt = getattr(cfg, "checkpoint", None)
    if ckpt is not None:
        _check(ckpt.keep >= 2, "checkpoint.keep", ckpt.keep, ">= 2")
        _check(ckpt.every >= 1, "checkpoint.every", ckpt.every, ">= 1")
    log = getattr(cfg, "log", None)
    if log is not None:
        _check(log.every >= 1, "log.every", log.every, ">= 1")
        _check(log.sample_every >= 1, "log.sample_every", log.sample_every, ">= 1")
        _check(log.num_samples >= 1, "log.num_samples", log.num_samples, ">= 1")
    model = getattr(cfg, "model", None)
    if model is not None and hasattr(model, "nz"):
        for key in ("nz", "ngf", "ndf", "max_channels"):
            _check(getattr(model, key) >= 1, f"model.{key}", getattr(model, key), ">= 1")
