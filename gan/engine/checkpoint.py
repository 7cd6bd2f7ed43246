"""Crash-safe ``checkpoint-<step>`` folders, retention, ``resume=latest`` and safe loading.

A checkpoint is written into ``.tmp-checkpoint-<step>`` and renamed to ``checkpoint-<step>`` only
when complete, so a crash mid-save never leaves a folder that looks complete; old checkpoints are
pruned only after the new one exists. Everything is read without executing code: weights from
safetensors, optimizer/scaler/RNG states through ``torch.load(weights_only=True)`` (what
``Accelerator.load_state`` does for the objects it prepared), our own state from JSON.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import torch
from accelerate import Accelerator
from accelerate.utils import load as safe_torch_load  # torch.load(weights_only=True) + numpy RNG types

from .formats import (
    CHECKPOINT_PREFIX, OLD_PREFIX, STATE_FILE, TMP_PREFIX, CheckpointError, load_safetensors, rng_file,
    save_safetensors_atomic, write_json_atomic,
)

PICKLED_SUFFIXES = (".bin", ".pkl", ".pt", ".pth")  # read with weights_only=True, never plain unpickling
PREFIX = CHECKPOINT_PREFIX
_STEP_RE = re.compile(rf"^{PREFIX}(\d+)$")


def checkpoint_step(path: Path) -> int | None:
    match = _STEP_RE.match(path.name)
    return int(match.group(1)) if match else None


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and checkpoint_step(p) is not None and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: checkpoint_step(p) or 0)


def resolve_resume(resume: str, root: Path) -> Path | None:
    """``""`` -> None; ``latest`` -> newest complete checkpoint (or None); else that folder."""
    if not resume:
        return None
    if resume == "latest":
        found = list_checkpoints(root)
        return found[-1] if found else None
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise CheckpointError(f"resume='{resume}' is not a complete checkpoint folder (no {STATE_FILE} inside)")
    return path


def fsync_tree(folder: Path) -> None:
    """Flush every file of ``folder`` and the folder itself to disk before it is renamed into place."""
    for path in folder.iterdir():
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: Path, final: Path) -> None:
    """Rename the complete ``tmp`` to ``final``; an existing ``final`` is moved aside first, never half-deleted."""
    fsync_tree(tmp)
    old = final.with_name(OLD_PREFIX + final.name[len(PREFIX):])
    if final.exists():  # a re-save of the same step (e.g. preemption right after a save)
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def check_safe_to_load(folder: Path) -> None:
    """Open every pickled file of a checkpoint with ``weights_only=True`` before anything is restored.

    A file that needs arbitrary code to unpickle (e.g. a crafted ``optimizer.bin``) is refused
    with a one-line error naming it; nothing of it is executed.
    """
    for path in sorted(folder.iterdir()):
        if path.suffix not in PICKLED_SUFFIXES:
            continue
        try:
            safe_torch_load(path, map_location="cpu")
        except Exception as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise CheckpointError(f"refusing to load '{path}': not a plain tensor file ({first})") from None


class CheckpointManager:
    """Saves and prunes ``checkpoint-<step>`` folders under ``root`` (all processes call :meth:`save`)."""

    def __init__(self, root: Path, keep: int, accelerator: Accelerator) -> None:
        if keep < 2:
            raise ValueError("keep must be >= 2 so that a complete checkpoint always survives the next save")
        self.root, self.keep, self.accelerator = Path(root), keep, accelerator

    def save(
        self,
        step: int,
        trainer_state: dict[str, Any],
        write_extra: Callable[[Path], None],
        rng_tensors: dict[str, torch.Tensor],
    ) -> Path:
        """Write a complete checkpoint for ``step``; returns its final path."""
        acc = self.accelerator
        tmp, final = self.root / f"{TMP_PREFIX}{step}", self.root / f"{PREFIX}{step}"
        if acc.is_main_process:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        acc.save_state(str(tmp))
        save_safetensors_atomic(rng_tensors, rng_file(tmp, acc.process_index))
        if acc.is_main_process:
            write_extra(tmp)
            write_json_atomic(tmp / STATE_FILE, trainer_state)
        acc.wait_for_everyone()
        if acc.is_main_process:
            publish(tmp, final)
            self.prune()
        acc.wait_for_everyone()
        return final

    def prune(self) -> None:
        """Delete complete checkpoints beyond the newest ``keep`` and leftovers of interrupted saves.

        Only complete checkpoints are counted, so a crashed save never makes the last complete one go.
        """
        complete = list_checkpoints(self.root)
        for old in complete[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        for pattern in (f"{TMP_PREFIX}*", f"{OLD_PREFIX}*"):
            for leftover in self.root.glob(pattern):
                shutil.rmtree(leftover, ignore_errors=True)


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """The step, data position, counters and config stored in a checkpoint (plain JSON)."""
    path = folder / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{folder}' is missing '{STATE_FILE}'; cannot resume")
    return json.loads(path.read_text())


def load_checkpoint(accelerator: Accelerator, folder: Path) -> dict[str, torch.Tensor]:
    """Restore prepared models/optimizers/scaler/RNG from ``folder``; return our own RNG states."""
    rank = accelerator.process_index
    required = [folder / STATE_FILE, folder / f"random_states_{rank}.pkl", rng_file(folder, rank)]
    for path in required:
        if not path.is_file():
            raise CheckpointError(f"checkpoint '{folder}' is missing '{path.name}' (RNG or trainer state); cannot resume exactly")
    # Accelerate only logs an unreadable RNG file and would unpickle nothing unsafe, but name the file first.
    check_safe_to_load(folder)
    rng_state = safe_torch_load(folder / f"random_states_{rank}.pkl")
    if not isinstance(rng_state, dict) or "torch_manual_seed" not in rng_state:
        raise CheckpointError(f"checkpoint '{folder}' has no torch RNG state in random_states_{rank}.pkl; refusing to resume")
    try:
        accelerator.load_state(str(folder))  # weights_only loads; see module docstring
    except Exception as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"cannot load checkpoint '{folder}': {first}") from None
    return load_safetensors(rng_file(folder, rank))
