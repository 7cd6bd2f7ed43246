"""docs/config.md is generated from the config dataclasses and must not go stale."""
from __future__ import annotations

import dataclasses
from typing import Literal

from conftest import REPO
from gan.config import Section, resumable
from gan.config.reference import field_comments, render, rows


@dataclasses.dataclass
class _Inner(Section):
    # why the first field exists,
    # over two lines
    alpha: int = 3  # and a trailing note
    beta: Literal["x", "y"] = "x"  # type: ignore[valid-type]  # one of two
    gamma: str = resumable("")


@dataclasses.dataclass
class _Outer(Section):
    top: bool = False
    inner: _Inner = resumable(default_factory=_Inner)


def test_field_comments_joins_lines_above_and_trailing_comment() -> None:
    assert field_comments(_Inner) == {
        "alpha": "why the first field exists, over two lines and a trailing note",
        "beta": "one of two",
        "gamma": "",
    }


def test_rows_flatten_sections_with_types_defaults_and_resumability() -> None:
    assert rows(_Outer) == [
        ("top", "bool", "`false`", False, ""),
        ("inner.alpha", "int", "`3`", True, "why the first field exists, over two lines and a trailing note"),
        ("inner.beta", "`x` \\| `y`", "`x`", True, "one of two"),
        ("inner.gamma", "str", "`''`", True, ""),
    ]


def test_docs_config_md_is_up_to_date() -> None:
    committed = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/config.md is stale: run  python -m gan.config.reference > docs/config.md"


def test_every_config_key_is_documented() -> None:
    from gan.generation.config import GANConfig
    from gan.seg.config import SegConfig

    missing = [key for schema in (GANConfig, SegConfig) for key, *_, doc in rows(schema) if not doc]
    assert not missing, f"config keys without a comment in their dataclass: {missing}"
