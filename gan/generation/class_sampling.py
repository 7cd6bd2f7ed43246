"""Sampling a class-conditional generator: ``--labels`` parsing and which (latent, label) goes where.

A conditional export records ``meta["model"]["num_classes"]`` (absent or 0: unconditional) and
``meta["label_names"]``; everything here reads those, never the model object. Latents always come
from :func:`gan.models.generate.latents_for_seeds`, so a seed means the same latent whatever the
label: in a label grid, one column shares its latent across all rows. The grid defaults are those of
:mod:`gan.models.generate`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch

from ..models.generate import cycled_labels, label_grid
from .sampling import interpolation_latents

_NAMES_SHOWN = 12  # an error lists at most this many class names


def num_classes(meta: dict[str, Any]) -> int:
    """Classes of the export's generator (0: unconditional)."""
    return int(meta.get("model", {}).get("num_classes") or 0)


def label_names(meta: dict[str, Any]) -> list[str]:
    """The export's class names (may be empty)."""
    return [str(n) for n in meta.get("label_names") or []]


def _valid(classes: int, names: Sequence[str]) -> str:
    text = f"class indices 0..{classes - 1}"
    if names:
        shown = ", ".join(names[:_NAMES_SHOWN]) + (", ..." if len(names) > _NAMES_SHOWN else "")
        text += f" or class names ({shown})"
    return text


def _name_index(part: str, names: Sequence[str], text: str, flag: str, classes: int) -> int | None:
    """The index of class name ``part``, matched exactly, else ignoring case; None when no name matches.

    Raises ``ValueError`` when ``part`` matches several names only by ignoring case ('cat' for 'Cat' and 'CAT').
    """
    if part in names:
        return list(names).index(part)
    folded = [i for i, name in enumerate(names) if name.casefold() == part.casefold()]
    if len(folded) > 1:
        matches = ", ".join(names[i] for i in folded)
        raise ValueError(f"{flag} {text!r}: {part!r} matches several classes ({matches}) when case is ignored; "
                         f"give one exactly or by index; expected {_valid(classes, names)}")
    return folded[0] if folded else None


def parse_labels(text: str, classes: int, names: Sequence[str] = (), flag: str = "--labels") -> list[int]:
    """``"0-9"``, ``"3"``, ``"1,4,7"`` or class names (``"cat,dog"``, any case) -> class indices, in order, no repeats.

    Raises ``ValueError`` naming ``flag``, the value and the valid range/names for an index out of
    ``0..classes-1``, an unknown or ambiguous name or an empty list.
    """
    out: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        index = _name_index(part, names, text, flag, classes)  # names first: a name may contain '-' (e.g. 'T-shirt/top')
        if index is not None:
            found = [index]
        else:
            lo, dash, hi = part.partition("-")
            try:
                first, last = int(lo), int(hi) if dash else int(lo)
            except ValueError:
                raise ValueError(f"{flag} {text!r}: unknown class {part!r}; expected {_valid(classes, names)}") from None
            if not 0 <= first <= last < classes:
                raise ValueError(f"{flag} {text!r}: {part!r} is out of range; expected {_valid(classes, names)}")
            found = list(range(first, last + 1))
        out.extend(k for k in found if k not in out)
    if not out:
        raise ValueError(f"{flag} {text!r}: no class given; expected {_valid(classes, names)}")
    return out


@dataclass
class Plan:
    """What to generate: latents ``(N, nz)``, their labels ``(N,)`` and a file name stem per image."""

    latents: torch.Tensor
    labels: torch.Tensor
    names: list[str]


def file_stem(label: int, seed: int) -> str:
    """``label3-seed000012``: the file name of one conditional sample."""
    return f"label{label}-seed{seed:06d}"


def per_label_pairs(labels: Sequence[int], seeds: Sequence[int]) -> Iterator[tuple[int, int]]:
    """``(label, seed)``: every seed for every label, label-major, produced one at a time."""
    return ((k, s) for k in labels for s in seeds)


def cycled_pairs(seeds: Sequence[int], classes: int) -> Iterator[tuple[int, int]]:
    """``(label, seed)``: one per seed, image i of class ``i % classes``, produced one at a time."""
    return ((i % classes, s) for i, s in enumerate(seeds))


def per_label(labels: Sequence[int], seeds: Sequence[int], nz: int) -> Plan:
    """Every seed for every label, label-major: a grid with one row per label (``nrow=len(seeds)``)."""
    latents, label_tensor = label_grid(labels, seeds, nz)
    return Plan(latents, label_tensor, [file_stem(k, s) for k, s in per_label_pairs(labels, seeds)])


def interpolation(anchors: Sequence[int], labels: Sequence[int] | None, classes: int, nz: int, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Slerp rows between consecutive seeds, with the label of each row.

    ``labels`` given: one block of rows per label, every row of a block that label (interpolation
    within a class). None: the rows cycle through the classes (row i: class ``i % classes``).
    """
    rows = len(anchors) - 1
    block = interpolation_latents(anchors, nz, steps)
    if labels is None:
        return block, cycled_labels(rows, classes).repeat_interleave(steps)
    row_labels = torch.tensor([k for k in labels for _ in range(rows)], dtype=torch.long)
    return block.repeat(len(labels), 1), row_labels.repeat_interleave(steps)


__all__ = ["Plan", "cycled_pairs", "file_stem", "interpolation", "label_names", "num_classes", "parse_labels", "per_label",
           "per_label_pairs"]
