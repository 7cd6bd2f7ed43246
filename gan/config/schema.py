"""Schema machinery: :class:`Section` with its range checks, :func:`resumable` fields, validation.

Each config section is a dataclass deriving from :class:`Section`; its ``checks()`` lists the range
checks that types cannot express, and :func:`validate` runs every one of them when a config is
loaded. Settings that may change when a run is resumed are declared with :func:`resumable`.
"""
from __future__ import annotations

import dataclasses
import math
import reprlib
import typing
from typing import Any, Iterator, Literal, Union

from ..errors import ConfigError, UserError

RESUMABLE = "resumable"  # field metadata flag: the value may differ from the checkpoint's on resume
MIN_EVAL_IMAGES = 2  # a covariance needs two samples

# A count or the word "auto" (resolved when the run starts): kept as a number or as the word, so that
# config.yaml stores ``4``, not ``'4'``, and loading it again gives the same config.
IntOrAuto = Union[Literal["auto"], int]

# Error messages show values through this: a long string or a huge nested list (e.g. from YAML aliases)
# is abbreviated with '...' instead of being formatted in full, so a message stays one short line.
_SHOWN = reprlib.Repr()
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 120, 120, 60
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = _SHOWN.maxset = 12
_SHOWN.maxlevel = 3


def shown(value: Any) -> str:
    """``repr(value)`` for an error message, abbreviated when long or deeply nested (never formats it whole)."""
    return _SHOWN.repr(value)


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




def _fields(cls: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls)}


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
            raise error(f"config key '{prefix}{name}': got {shown(got)}, expected {expected}")


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
