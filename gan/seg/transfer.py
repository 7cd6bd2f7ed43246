"""``init_from``: copy a trained GAN's decoder (and optionally its discriminator) into a SegmentationModel.

Decoder stages are aligned from the output end: the generator's last stage goes to the segmentation
decoder's last stage, and so on upwards. With the same ``ngf``/``max_channels`` those stages have
the same widths, so a GAN trained at 64 px fills the last three stages of a 256-px decoder; the
first stages (and the 1x1 adapter, fusions and head) keep their fresh initialisation. Discriminator
blocks are aligned from the input end (block i -> encoder block i). Every tensor is either loaded
or reported as skipped, with shapes.

A stage (block) is loaded whole or not at all, with one exception: a SAGAN self-attention block in
the GAN stage's ``extra`` slot (``model.attention``), which our stages lack. It sits after the
stage's conv -> norm -> activation as a residual ``x + gamma * attention(x)``, so the stage without
it is a well-defined part of the GAN's stage: its conv and norm tensors load and the attention
tensors are reported as skipped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError
from ..formats import DISCRIMINATOR_WEIGHTS, GENERATOR, find_export, load_safetensors
from .encoders import ConvEncoder

_STAGE_RE = re.compile(r"^decoder\.stages\.(\d+)\.(.+)$")
_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(.+)$")
_MAX_REASONS = 3  # reasons named in the "nothing fits" error


@dataclass
class TransferReport:
    """What ``init_from`` did: ``loaded`` (ours, theirs, shape) and ``skipped`` (theirs, reason)."""

    source: Path
    loaded: list[tuple[str, str, tuple[int, ...]]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def loaded_keys(self) -> set[str]:
        return {ours for ours, _, _ in self.loaded}

    def lines(self) -> list[str]:
        out = [f"init_from {self.source}: loaded {len(self.loaded)} tensors, skipped {len(self.skipped)}"]
        out += [f"  loaded  {ours} <- {theirs} {list(shape)}" for ours, theirs, shape in self.loaded]
        out += [f"  skipped {theirs}: {why}" for theirs, why in self.skipped]
        return out


def decoder_candidates(gen_state: dict[str, torch.Tensor], seg_stages: int) -> tuple[dict[str, tuple[str, torch.Tensor]], list[tuple[str, str]]]:
    """Map generator keys to segmentation keys (stages aligned at the output end)."""
    stage_ids = [int(m.group(1)) for k in gen_state if (m := _STAGE_RE.match(k))]
    offset = seg_stages - (max(stage_ids) + 1 if stage_ids else 0)
    mapped, skipped = {}, []
    for key, tensor in gen_state.items():
        match = _STAGE_RE.match(key)
        if not match:
            skipped.append((key, "not a decoder stage (latent projection / image head)"))
        elif int(match.group(1)) + offset < 0:
            skipped.append((key, f"generator stage {match.group(1)} has no counterpart: the segmentation decoder has only {seg_stages} stages"))
        else:
            mapped[f"decoder.stages.{int(match.group(1)) + offset}.{match.group(2)}"] = (key, tensor)
    return mapped, skipped


def encoder_candidates(disc_state: dict[str, torch.Tensor]) -> tuple[dict[str, tuple[str, torch.Tensor]], list[tuple[str, str]]]:
    """Map discriminator ``blocks.<i>.*`` to ``encoder.blocks.<i>.*`` (aligned at the input end)."""
    mapped, skipped = {}, []
    for key, tensor in disc_state.items():
        if _BLOCK_RE.match(key):
            mapped[f"encoder.{key}"] = (key, tensor)
        else:
            skipped.append((key, "not an encoder block (logit layer)"))
    return mapped, skipped


def _group(key: str) -> str:
    """The stage/block a key belongs to (``decoder.stages.2``): groups are loaded whole or not at all."""
    return ".".join(key.split(".")[:3])


# The state-dict children of gan.models.conditioning.SelfAttention2d (query/key/value convs, gamma).
_ATTENTION_PARTS = {"query", "key", "value", "gamma"}


def _attention_keys(group: str, keys: list[str], state: dict[str, torch.Tensor]) -> list[str]:
    """The keys of a self-attention block in ``group``'s ``extra`` slot that our ``group`` has no ``extra`` for.

    Only a block whose tensors are exactly a SAGAN block's qualifies (another ``extra`` module could
    change what the stage computes, so its stage still does not fit).
    """
    slot = group + ".extra."
    extra = [k for k in keys if k.startswith(slot)]
    if not extra or any(k.startswith(slot) for k in state):
        return []
    return extra if {k[len(slot):].split(".")[0] for k in extra} == _ATTENTION_PARTS else []


def _mismatch(state: dict[str, torch.Tensor], ours: str, tensor: torch.Tensor) -> str | None:
    if ours not in state:
        return f"no '{ours}' in the segmentation model"
    if tuple(state[ours].shape) != tuple(tensor.shape):
        return f"shape {list(tensor.shape)} != ours {list(state[ours].shape)} ('{ours}')"
    return None


def _apply(model: nn.Module, candidates: dict[str, tuple[str, torch.Tensor]], report: TransferReport, prefix: str) -> list[str]:
    """Copy every group whose tensors all fit; a half-loaded stage (weights without their norm) is worse than none.

    A GAN stage's self-attention block is left out of its group (see the module docstring). Returns
    why the groups that did not fit do not (each reason once).
    """
    state = model.state_dict()
    groups: dict[str, list[str]] = {}
    for ours in candidates:
        groups.setdefault(_group(ours), []).append(ours)
    reasons: list[str] = []
    for group, keys in groups.items():
        attention = _attention_keys(group, keys, state)
        for ours in attention:
            report.skipped.append((prefix + candidates[ours][0], f"self-attention block: the segmentation {group.split('.')[0]} has none"))
        keys = [k for k in keys if k not in attention]
        problems = [why for ours in keys if (why := _mismatch(state, ours, candidates[ours][1]))]
        reasons += [why for why in problems if why not in reasons]
        for ours in keys:
            theirs, tensor = candidates[ours]
            if problems:
                report.skipped.append((prefix + theirs, _mismatch(state, ours, tensor) or f"its stage does not fit: {problems[0]}"))
            else:
                state[ours] = tensor.to(state[ours].dtype)
                report.loaded.append((ours, prefix + theirs, tuple(tensor.shape)))
    model.load_state_dict(state)
    return reasons


def transfer_from_gan(model: nn.Module, path: str | Path, encoder: bool = False) -> TransferReport:
    """Load the generator's decoder (and with ``encoder`` the discriminator's blocks) into ``model``."""
    folder = find_export(path, GENERATOR)
    report = TransferReport(folder)
    mapped, skipped = decoder_candidates(load_safetensors(folder / GENERATOR.weights), len(model.decoder.stages))
    report.skipped += [("generator:" + k, why) for k, why in skipped]
    reasons = [why for k, why in skipped if _STAGE_RE.match(k)]  # stages above our first one
    reasons = list(dict.fromkeys(_apply(model, mapped, report, "generator:") + reasons))
    if not report.loaded:
        shown = "; ".join(reasons[:_MAX_REASONS]) + (f"; and {len(reasons) - _MAX_REASONS} more" if len(reasons) > _MAX_REASONS else "")
        raise CheckpointError(f"init_from '{path}': no decoder weight fits the segmentation model ({shown or 'the generator has no decoder stage'}); "
                              "use the GAN's model.ngf, max_channels, upsample and norm")
    if encoder:
        if not isinstance(model.encoder, ConvEncoder):
            raise CheckpointError("transfer.encoder=true needs model.encoder=conv (the discriminator's layout)")
        mapped, skipped = encoder_candidates(load_safetensors(folder / DISCRIMINATOR_WEIGHTS))
        report.skipped += [("discriminator:" + k, why) for k, why in skipped]
        _apply(model, mapped, report, "discriminator:")
    return report
