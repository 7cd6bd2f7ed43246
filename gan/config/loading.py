"""Reading configs: safe YAML files, dotted ``key=value`` overrides, type coercion, dict round trips.

Values from a YAML file and from overrides go through the same checks: unknown keys, wrong types and
invalid choices raise :class:`ConfigError` with one line naming the key, the bad value and what is
allowed. Nothing in a config can name a class or function to import (safe YAML tags only), and a key
given twice or an alias bomb is refused (:mod:`gan.config.safe_yaml`).
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from .safe_yaml import load_yaml
from ..errors import ConfigError
from .schema import _fields, shown, validate

T = TypeVar("T")


def _describe(tp: Any) -> str:
    if typing.get_origin(tp) is Union:
        return " or ".join(_describe(member) for member in typing.get_args(tp))
    if typing.get_origin(tp) is Literal:
        choices = typing.get_args(tp)
        return repr(choices[0]) if len(choices) == 1 else "one of " + ", ".join(repr(c) for c in choices)
    if typing.get_origin(tp) is list:
        return f"a list of {typing.get_args(tp)[0].__name__}"
    return tp.__name__


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Return ``value`` converted to the schema type ``tp`` or raise a one-line ConfigError.

    A ``Union`` (e.g. :data:`~gan.config.schema.IntOrAuto`) takes the first member ``value`` converts to.
    """
    origin = typing.get_origin(tp)

    def bad() -> ConfigError:  # built only when raised: a list's items are coerced one by one
        return ConfigError(f"config key '{key}': got {shown(value)}, expected {_describe(tp)}")

    if origin is Union:
        for member in typing.get_args(tp):
            try:
                return coerce(value, member, key)
            except ConfigError:
                continue
        raise bad()
    if origin is Literal:
        if isinstance(value, bool):  # YAML 1.1 reads unquoted no/off/false as False and yes/on/true as True
            words = ("yes", "true") if value else ("no", "false")
            value = next((word for word in words if word in typing.get_args(tp)), value)
        if value not in typing.get_args(tp):
            raise bad()
        return value
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise bad()
        return [coerce(v, item, key) for v in value]
    if isinstance(value, bool) and tp is not bool:
        raise bad()
    if tp is bool:
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        if isinstance(value, bool):
            return value
        raise bad()
    if tp is int and isinstance(value, (int, str)):
        try:
            return int(value)
        except ValueError:
            raise bad() from None
    if tp is float and isinstance(value, (int, float, str)):  # YAML 1.1 reads "1e-4" as a string
        try:
            out = float(value)
        except ValueError:
            raise bad() from None
        if not math.isfinite(out):
            raise ConfigError(f"config key '{key}': got {shown(value)}, expected a finite number")
        return out
    if tp is str and isinstance(value, (str, int, float)):
        return str(value)
    raise bad()


def _leaf_keys(schema: type, prefix: str = "") -> list[str]:
    """Every dotted key of ``schema`` that holds a value (not a section)."""
    out: list[str] = []
    for name, (_, tp) in _fields(schema).items():
        out += _leaf_keys(tp, f"{prefix}{name}.") if dataclasses.is_dataclass(tp) else [prefix + name]
    return out


def _one_of(keys: list[str]) -> str:
    quoted = [f"'{k}'" for k in keys]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _unknown(key: str, name: str, known: list[str], schema: type) -> ConfigError:
    """The error of an unknown ``key``, suggesting what was probably meant.

    ``known``: the keys beside it; ``schema``: the whole config's, so that a key given without its
    section (``steps``) or in another one (``model.g_lr``) points at where it lives (``train.steps``).
    """
    parent = key[: -len(name)]
    leaves = _leaf_keys(schema)
    elsewhere = [k for k in leaves if k.rsplit(".", 1)[-1] == name]
    close = difflib.get_close_matches(name, known, n=1)
    if not elsewhere and not close:  # a misspelt key in the wrong section (or none): the closest last parts
        last = difflib.get_close_matches(name, sorted({k.rsplit(".", 1)[-1] for k in leaves}), n=3)
        elsewhere = [k for k in leaves if k.rsplit(".", 1)[-1] in last]
    if elsewhere:
        hint = f" (did you mean {_one_of(elsewhere)}?)"
    elif close:
        hint = f" (did you mean '{parent}{close[0]}'?)"
    else:
        hint = f"; known keys: {', '.join(parent + k for k in known)}"
    return ConfigError(f"unknown config key '{key}'{hint}")


def _set(obj: Any, dotted: str, value: Any, parent: str = "", schema: type | None = None) -> None:
    """Set ``obj.<dotted>`` to ``value`` after checking the key and coercing the value.

    ``parent`` is the dotted path of ``obj`` itself, used only to name keys in errors; ``schema``
    the whole config's type (``obj``'s by default), where an unknown key's suggestions come from.
    """
    schema = schema or type(obj)
    parts = dotted.split(".")
    target, prefix = obj, [parent] if parent else []
    for i, name in enumerate(parts):
        fields = _fields(type(target))
        key = ".".join(prefix + [name])
        if name not in fields:
            raise _unknown(key, name, list(fields), schema)
        _, tp = fields[name]
        prefix.append(name)
        if dataclasses.is_dataclass(tp):
            if i == len(parts) - 1:
                if not isinstance(value, dict):
                    raise ConfigError(f"config key '{key}': got {shown(value)}, expected a mapping")
                for sub, sub_value in value.items():
                    _set(getattr(target, name), str(sub), sub_value, key, schema)
                return
            target = getattr(target, name)
            continue
        if i != len(parts) - 1:
            raise ConfigError(f"config key '{key}' is a {_describe(tp)}, it has no sub-key")
        setattr(target, name, coerce(value, tp, key))


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``a.b=value``; the value is read as YAML so lists and numbers work (text that is not YAML stays text)."""
    if "=" not in text:
        raise ConfigError(f"override {shown(text)} is not of the form key=value (e.g. train.steps=200)")
    key, raw = text.split("=", 1)
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    except ConfigError as err:
        raise ConfigError(f"override {shown(text)}: {err}") from None
    return key.strip(), "" if value is None else value


def read_config_file(path: Path) -> dict:
    """The mapping in a YAML config file, or a one-line ConfigError naming the file (see :func:`~gan.config.safe_yaml.load_yaml`)."""
    if path.is_dir():
        raise ConfigError(f"config file '{path}' is a folder; expected a YAML file (see configs/)")
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except ConfigError as err:  # a repeated key, or too many values once aliases are expanded
        raise ConfigError(f"config file '{path}': {err}") from None
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


def typed_dict(schema: type, data: dict) -> dict:
    """``data`` (a :func:`to_dict` of ``schema``, maybe written by an older version) with its values in the schema's types.

    A resume compares a checkpoint's config with the run's: an older checkpoint's ``num_classes: '0'``
    is then the ``0`` of today's schema. Unknown keys and values that do not convert are kept as they are.
    """
    fields = _fields(schema) if dataclasses.is_dataclass(schema) else {}
    out = {}
    for key, value in data.items():
        tp = fields[key][1] if key in fields else None
        if tp is not None and dataclasses.is_dataclass(tp) and isinstance(value, dict):
            out[key] = typed_dict(tp, value)
            continue
        try:
            out[key] = coerce(value, tp, key) if tp is not None else value
        except ConfigError:
            out[key] = value
    return out


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


