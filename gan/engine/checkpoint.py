"""Crash-safe ``checkpoint-<step>`` folders, retention, ``resume=latest`` and safe loading.

A checkpoint is written into ``.tmp-checkpoint-<step>`` and renamed to ``checkpoint-<step>`` only
when complete, so a crash mid-save never leaves a folder that looks complete; old checkpoints are
pruned only after the new one exists. Everything is read without executing code: weights from
safetensors, optimizer/scaler/RNG states through ``torch.load(weights_only=True)`` (what
``Accelerator.load_state`` does for the objects it prepared), our own state from JSON.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from accelerate import Accelerator
from accelerate.utils import load as safe_torch_load  # torch.load(weights_only=True) + numpy RNG types
from safetensors import safe_open

from ..errors import CheckpointError, first_line
from ..formats import (
    CHECKPOINT_PREFIX, OLD_PREFIX, STATE_FILE, TMP_PREFIX, WRITE_ERRORS, WriteError, list_checkpoints,
    load_safetensors, rng_file, save_safetensors_atomic, write_failure, write_json_atomic,
)
from .history import parse_history

PICKLED_SUFFIXES = (".bin", ".pkl", ".pt", ".pth")  # read with weights_only=True, never plain unpickling
PREFIX = CHECKPOINT_PREFIX


def resolve_resume(resume: str, root: Path) -> Path | None:
    """``""`` -> None; ``latest`` -> newest readable complete checkpoint (or None); else that folder.

    ``latest`` skips, with a one-line warning each, complete checkpoints that fail :func:`verify_checkpoint`
    (an older complete one beats a traceback); when none passes, the newest one's error is raised
    (never a silent fresh start). An explicitly named folder must pass.
    """
    if not resume:
        return None
    if resume == "latest":
        first_error: CheckpointError | None = None
        for folder in reversed(list_checkpoints(root)):
            try:
                verify_checkpoint(folder)
                return folder
            except CheckpointError as err:
                first_error = first_error or err
                print(f"warning: resume=latest skips {folder.name}: {err}")
        if first_error is not None:
            raise first_error
        return None
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise CheckpointError(f"resume='{resume}' is not a complete checkpoint folder (no {STATE_FILE} inside)")
    verify_checkpoint(path)
    return path


def verify_checkpoint(folder: Path) -> None:
    """Cheap readability checks before anything is restored: the trainer state parses, every file it
    lists exists, safetensors headers match their sizes, pickled files are plain tensor files."""
    state = read_trainer_state(folder)
    missing = [name for name in state.get("files", []) if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(f"checkpoint '{folder}' is missing {', '.join(repr(m) for m in missing)} (listed in {STATE_FILE}); cannot resume")
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt"):
                pass
        except Exception as err:  # safetensors raises its own error type for a truncated or foreign file
            raise CheckpointError(f"'{path}' is not a readable safetensors file: {first_line(err)}") from None
    check_safe_to_load(folder)


def saved_process_count(folder: Path) -> int:
    """How many processes wrote a checkpoint (each writes its own RNG file)."""
    return len(list(folder.glob("toolkit_rng_*.safetensors")))


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
            raise CheckpointError(f"refusing to load '{path}': not a plain tensor file ({first_line(err)})") from None


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
        with self._writing(tmp):
            acc.save_state(str(tmp))
            save_safetensors_atomic(rng_tensors, rng_file(tmp, acc.process_index))
            if acc.is_main_process:
                write_extra(tmp)
        acc.wait_for_everyone()  # every rank's files are there before the list is taken
        if acc.is_main_process:  # the file list lets a resume name a missing file before loading
            with self._writing(tmp):
                files = sorted(p.name for p in tmp.iterdir() if p.is_file())
                write_json_atomic(tmp / STATE_FILE, {**trainer_state, "files": files})
        acc.wait_for_everyone()
        if acc.is_main_process:
            publish(tmp, final)
            self.prune()
        acc.wait_for_everyone()
        return final

    @contextlib.contextmanager
    def _writing(self, tmp: Path) -> Iterator[None]:
        """A failed write (e.g. a full disk) becomes one line naming the folder and the free space."""
        try:
            yield
        except (*WRITE_ERRORS, WriteError, RuntimeError) as err:  # torch reports a failed write as RuntimeError
            free = shutil.disk_usage(self.root).free / 2**20
            raise CheckpointError(
                f"cannot write checkpoint '{tmp}': {write_failure(err)} ({free:.0f} MiB free on that disk); "
                f"the previous complete checkpoints in '{self.root}' are kept"
            ) from None

    def prune(self) -> None:
        """Delete complete checkpoints beyond the newest ``keep`` and leftovers of interrupted saves.

        Only complete checkpoints are counted, so a crashed save never makes the last complete one go.
        """
        complete = list_checkpoints(self.root)
        for old in complete[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        self.clear_leftovers()

    def clear_leftovers(self) -> None:
        """Remove folders of interrupted saves (main process; before a resume and after each save).

        An ``.old-checkpoint-<step>`` whose ``checkpoint-<step>`` is missing is a complete checkpoint
        from a crash between the two renames of :func:`publish`: it is renamed back, not deleted.
        """
        for old in self.root.glob(f"{OLD_PREFIX}*"):
            final = self.root / (PREFIX + old.name[len(OLD_PREFIX):])
            if not final.exists() and (old / STATE_FILE).is_file():
                os.replace(old, final)
        for pattern in (f"{TMP_PREFIX}*", f"{OLD_PREFIX}*"):
            for leftover in self.root.glob(pattern):
                shutil.rmtree(leftover, ignore_errors=True)


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """The step, data position, counters and config stored in a checkpoint (plain JSON)."""
    path = folder / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{folder}' is missing '{STATE_FILE}'; cannot resume")
    try:
        state = json.loads(path.read_text())
    except (ValueError, OSError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CheckpointError(f"'{path}' is not readable JSON ({err}); cannot resume") from None
    missing = [key for key in ("step", "data", "config") if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"'{path}' lacks {', '.join(missing)}; not a trainer state, cannot resume")
    check_state_fields(state, path)
    return state


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0  # bool is an int subclass, but not a step count


# The data position is BatchStream.state_dict(): where in which epoch the stream stands.
DATA_FIELDS = ("epoch", "index")


def check_state_fields(state: dict[str, Any], path: Path) -> None:
    """Types and ranges of a trainer state's fields; one line naming the file, the field and what was expected."""

    def bad(field: str, value: Any, expected: str) -> CheckpointError:
        return CheckpointError(f"'{path}': field '{field}' is {value!r}, expected {expected}; cannot resume")

    for field in ("step", "skipped_steps"):
        if field in state and not _count(state[field]):
            raise bad(field, state[field], "an integer >= 0")
    data = state["data"]
    if not isinstance(data, dict):
        raise bad("data", data, f"an object with {' and '.join(DATA_FIELDS)}")
    for field in DATA_FIELDS:
        if not _count(data.get(field)):
            raise bad(f"data.{field}", data.get(field), "an integer >= 0")
    if not isinstance(state["config"], dict):
        raise bad("config", state["config"], "an object (the run's config)")
    files = state.get("files", [])
    if not isinstance(files, list) or not all(isinstance(name, str) and name and "/" not in name and name not in (".", "..") for name in files):
        raise bad("files", files, "a list of file names")
    parse_history(state, path)  # timeline and lineage


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
        raise CheckpointError(f"cannot load checkpoint '{folder}': {first_line(err)}") from None
    return load_safetensors(rng_file(folder, rank))
