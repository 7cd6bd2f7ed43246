"""The configuration reference (``docs/config.md``), generated from the config dataclasses.

A field's documentation is the comment written with it: the comment lines just above the field and
the comment at the end of its line (``type: ignore`` markers dropped). Keys, types, choices and
defaults come from the dataclasses themselves, so the page cannot disagree with the schema; a test
fails when the committed page is stale. Regenerate it with::

    python -m gan.config.reference > docs/config.md
"""
from __future__ import annotations

import dataclasses
import inspect
import io
import re
import tokenize
import typing
from typing import Any, Literal

from .schema import RESUMABLE, _fields

_IGNORE = re.compile(r"type:\s*ignore(\[[^\]]*\])?")


def field_comments(cls: type) -> dict[str, str]:
    """``{field name: its comment text}`` for the fields declared in ``cls`` itself (not its bases)."""
    source = inspect.getsource(cls)
    comments: dict[int, str] = {}  # line number -> comment text
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            text = _IGNORE.sub("", tok.string.lstrip("#")).strip(" #")
            if text:
                comments[tok.start[0]] = text
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code_lines.add(tok.start[0])
    out: dict[str, str] = {}
    field_line = re.compile(r"^\s{4}(\w+)\s*:")
    for number, line in enumerate(source.splitlines(), start=1):
        match = field_line.match(line)
        if not match or match.group(1) not in getattr(cls, "__dataclass_fields__", {}):
            continue
        above, previous = [], number - 1
        while previous in comments and previous not in code_lines:  # whole comment lines just above
            above.insert(0, comments[previous])
            previous -= 1
        parts = above + ([comments[number]] if number in comments and number in code_lines else [])
        out[match.group(1)] = " ".join(parts)
    return out


def _type_text(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " \\| ".join(f"`{c}`" for c in typing.get_args(tp))
    if typing.get_origin(tp) is list:
        return f"list of {typing.get_args(tp)[0].__name__}"
    return getattr(tp, "__name__", str(tp))


def _default_text(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return ""
    if isinstance(value, str):
        return f"`{value!r}`" if value == "" else f"`{value}`"
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


def _docs(cls: type) -> dict[str, str]:
    """Comments of ``cls`` and its dataclass bases (a subclass's comment wins)."""
    out: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if dataclasses.is_dataclass(base):
            out.update({k: v for k, v in field_comments(base).items() if v or k not in out})
    return out


def rows(schema: type, prefix: str = "", resumable: bool = False) -> list[tuple[str, str, str, bool, str]]:
    """``(key, type, default, resumable, doc)`` for every leaf key of ``schema``, sections in declaration order."""
    out, docs, nested = [], _docs(schema), []
    for name, (field, tp) in _fields(schema).items():
        may_change = resumable or bool(field.metadata.get(RESUMABLE))
        if dataclasses.is_dataclass(tp):
            nested.append((name, tp, may_change))
            continue
        out.append((f"{prefix}{name}", _type_text(tp), _default_text(field), may_change, docs.get(name, "")))
    for name, tp, may_change in nested:
        out += rows(tp, f"{prefix}{name}.", may_change)
    return out


def render_schema(title: str, schema: type, command: str) -> str:
    """One job's section of the page: a table of every key."""
    lines = [f"## {title}", "", f"`{command}`", "",
             "| key | type | default | on resume | meaning |", "|---|---|---|---|---|"]
    for key, tp, default, may_change, doc in rows(schema):
        lines.append(f"| `{key}` | {tp} | {default} | {'may change' if may_change else 'fixed'} | {doc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def render() -> str:
    """The whole ``docs/config.md``."""
    from ..generation.config import GANConfig
    from ..seg.config import SegConfig

    head = (
        "# Configuration reference\n\n"
        "Generated from the config dataclasses by `python -m gan.config.reference > docs/config.md`;"
        " do not edit by hand (a test fails when this page is stale).\n\n"
        "A run is a YAML file from `configs/` plus dotted `key=value` overrides on the command line;"
        " both go through the same checks. \"On resume\": keys marked *may change* can differ from the"
        " checkpoint's when a run is resumed (`resume=latest`); changing a *fixed* key stops with the"
        " differing keys.\n\n"
    )
    return head + render_schema("GAN training", GANConfig, "train_gan.py, evaluate.py (data.* and eval.*)") + "\n" + \
        render_schema("Segmentation training", SegConfig, "train_seg.py")


if __name__ == "__main__":
    print(render(), end="")
