"""One history per run directory: timelines, rewinds, and what a rewind sets aside.

Every checkpoint and every ``metrics.jsonl`` row names the *timeline* it belongs to (``t0``, ``t1``,
...). A fresh run is timeline ``t0``; resuming from the newest checkpoint continues its timeline.
Resuming from an older checkpoint while newer ones exist (a *rewind*) starts a new timeline whose
*lineage* is the resumed checkpoint's history up to its step. ``<run>/timeline.json`` names the
run's current timeline and lineage; it is written before anything is moved, so a crash during a
rewind is finished by the next start. Checkpoints and rows outside the current history are moved,
never deleted, into ``<run>/abandoned/<new timeline>/`` (``checkpoints/``, ``metrics.jsonl``,
``best/``), so ``resume=latest`` can never pick a checkpoint of another history.

Ids are counters, not random, so two runs of the same config write identical logs.
Checkpoints and rows written before timelines existed count as ``t0``.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ..formats import (
    ABANDONED_DIR, BEST_DIR, BEST_JSON, CHECKPOINTS_DIR, EVAL_DIR, METRICS_LOG, SEG_EVAL_LOG, STATE_FILE, TIMELINE_FILE,
    write_json_atomic,
)

ROOT_TIMELINE = "t0"
# Evaluation logs (GAN, segmentation): rows without a timeline, set aside by step on a rewind.
EVAL_LOGS = (f"{EVAL_DIR}/{METRICS_LOG}", SEG_EVAL_LOG)
TIMELINE_RE = re.compile(r"^t(\d+)$")


@dataclass(frozen=True)
class History:
    """A timeline and its ancestors: ``lineage`` holds ``(timeline, last step taken from it)`` pairs."""

    timeline: str = ROOT_TIMELINE
    lineage: tuple[tuple[str, int], ...] = ()

    def holds(self, timeline: str, step: int) -> bool:
        """Whether step ``step`` of ``timeline`` is part of this history."""
        return timeline == self.timeline or any(t == timeline and step <= last for t, last in self.lineage)

    def branch(self, step: int, timeline: str) -> "History":
        """The new timeline ``timeline`` continuing this one from ``step``."""
        return History(timeline, (*self.lineage, (self.timeline, step)))

    def ids(self) -> list[str]:
        return [self.timeline, *(t for t, _ in self.lineage)]

    def to_json(self) -> dict[str, Any]:
        return {"timeline": self.timeline, "lineage": [[t, s] for t, s in self.lineage]}


def parse_history(data: dict[str, Any], source: Path) -> History:
    """The history recorded in ``data`` (a trainer state or ``timeline.json``); absent means ``t0``.

    Raises :class:`CheckpointError` naming ``source`` and the field when it is malformed.
    """
    timeline = data.get("timeline", ROOT_TIMELINE)
    if not isinstance(timeline, str) or not TIMELINE_RE.match(timeline):
        raise CheckpointError(f"'{source}': field 'timeline' is {timeline!r}, expected a timeline id like 't0'; cannot resume")
    lineage = data.get("lineage", [])
    ok = isinstance(lineage, list) and all(
        isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and TIMELINE_RE.match(pair[0])
        and type(pair[1]) is int and pair[1] >= 0 for pair in lineage
    )
    if not ok:
        raise CheckpointError(f"'{source}': field 'lineage' is {lineage!r}, expected a list of [timeline id, step >= 0] pairs; cannot resume")
    return History(timeline, tuple((t, s) for t, s in lineage))


def read_history(run_dir: Path) -> History | None:
    """The run's current history from ``timeline.json``; None for a run written before timelines."""
    path = run_dir / TIMELINE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (ValueError, OSError) as err:
        raise CheckpointError(f"'{path}' is not readable JSON ({err}); delete it to let the newest checkpoint define the history") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"'{path}' is not a JSON object; delete it to let the newest checkpoint define the history")
    return parse_history(data, path)


def next_timeline(run_dir: Path, *known: History | None) -> str:
    """A timeline id not used yet in ``run_dir`` (above every id of ``known`` and of ``abandoned/``)."""
    names = [t for h in known if h is not None for t in h.ids()]
    abandoned = run_dir / ABANDONED_DIR
    if abandoned.is_dir():
        names += [p.name for p in abandoned.iterdir()]
    numbers = [int(m.group(1)) for m in map(TIMELINE_RE.match, names) if m]
    return f"t{max(numbers, default=0) + 1}"


def _state_of(folder: Path) -> tuple[str, int] | None:
    """A checkpoint's (timeline, step), or None when its state is unreadable (resume reports those)."""
    try:
        state = json.loads((folder / STATE_FILE).read_text())
        if not isinstance(state, dict):
            return None
        return parse_history(state, folder / STATE_FILE).timeline, int(state["step"])
    except (ValueError, OSError, KeyError, TypeError, CheckpointError):
        return None


def _move(src: Path, dest_dir: Path) -> Path:
    """Rename ``src`` into ``dest_dir`` (same disk: nothing is copied), never over an existing entry."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest, n = dest_dir / src.name, 1
    while dest.exists():
        n += 1
        dest = dest_dir / f"{src.name}.{n}"
    os.replace(src, dest)
    return dest


def _steps(steps: list[int]) -> str:
    return f"step {steps[0]}" if min(steps) == max(steps) else f"steps {min(steps)}-{max(steps)}"


def _split_log(path: Path, history: History, resume_step: int | None, aside: Path, after: int | None = None) -> list[int]:
    """Keep the rows of ``history`` up to ``resume_step`` in ``path``; append the other rows to ``aside/<name>``.

    Rows of ``history`` after ``resume_step`` are dropped: the resumed run redoes exactly those steps.
    ``after``: also set aside every row after this step (logs whose rows carry no timeline).
    Returns the steps set aside.
    """
    if not path.exists():
        return []
    kept, moved, steps = [], [], []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
            step, timeline = int(row["step"]), str(row.get("timeline", ROOT_TIMELINE))
        except (ValueError, KeyError, TypeError, AttributeError):  # a line cut by a crash
            continue
        if not history.holds(timeline, step) or (after is not None and step > after):
            moved.append(line + "\n")
            steps.append(step)
        elif resume_step is None or step <= resume_step:
            kept.append(line + "\n")
    if moved:  # written first: a crash here leaves the rows in both files, never in neither
        aside.mkdir(parents=True, exist_ok=True)
        with open(aside / path.name, "a") as f:
            f.write("".join(moved))
            f.flush()
            os.fsync(f.fileno())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(kept))
    tmp.replace(path)
    return steps


def set_aside(run_dir: Path, history: History, resume_step: int | None) -> str:
    """Move checkpoints and ``metrics.jsonl`` rows outside ``history`` into ``abandoned/<timeline>/``.

    Returns what was moved, as words for a one-line message ("" when nothing was). ``resume_step``:
    the step training restarts from (rows of ``history`` after it are dropped); None: keep them.
    """
    aside = run_dir / ABANDONED_DIR / history.timeline
    moved: list[str] = []
    root = run_dir / CHECKPOINTS_DIR
    for folder in sorted(root.glob("checkpoint-*")) if root.is_dir() else []:
        found = _state_of(folder)
        if found is not None and not history.holds(*found):
            _move(folder, aside / CHECKPOINTS_DIR)
            moved.append(folder.name)
    steps = _split_log(run_dir / METRICS_LOG, history, resume_step, aside)
    if steps:
        moved.append(f"{METRICS_LOG} {_steps(steps)}")
    return ", ".join(moved)


def _rewind_evaluations(run_dir: Path, history: History, step: int) -> list[str]:
    """On a rewind, evaluation rows after ``step`` and the best export of a later step belong to the
    abandoned history: move them into ``abandoned/<timeline>/`` (same relative paths)."""
    aside, moved = run_dir / ABANDONED_DIR / history.timeline, []
    for name in EVAL_LOGS:
        steps = _split_log(run_dir / name, History(), None, aside / Path(name).parent, after=step)
        if steps:
            moved.append(f"{name} {_steps(steps)}")
    best = run_dir / BEST_DIR / BEST_JSON
    try:
        best_step = int(json.loads(best.read_text())["step"]) if best.is_file() else None
    except (ValueError, KeyError, TypeError, OSError):
        best_step = None
    if best_step is not None and best_step > step:
        _move(run_dir / BEST_DIR, aside)
        moved.append(f"{BEST_DIR}/ of step {best_step}")
    return moved


def start_history(run_dir: Path, resumed: History | None, step: int, newer: bool) -> tuple[History, str]:
    """The history a run continues and the one-line note about it (main process; writes ``timeline.json``).

    ``resumed``: the history of the checkpoint resumed from (None: from scratch) at ``step``;
    ``newer``: checkpoints newer than ``step`` are still in the run directory (this is a rewind).
    """
    current, evaluations = read_history(run_dir), []
    if resumed is None:  # from scratch: keep a scratch timeline, else start a new one
        straight = current is None or (not current.lineage and not newer)
        history = (current or History()) if straight else History(next_timeline(run_dir, current))
    elif not newer and (current is None or current.timeline == resumed.timeline):
        history = resumed  # a plain resume continues the checkpoint's timeline
    elif not newer and current is not None and current.lineage == (*resumed.lineage, (resumed.timeline, step)):
        history = current  # the resume of a rewind whose new timeline saved nothing yet
    else:
        history = resumed.branch(step, next_timeline(run_dir, current, resumed))
        evaluations = _rewind_evaluations(run_dir, history, step)  # before timeline.json: a crash then redoes the rewind
    if history != current:
        write_json_atomic(run_dir / TIMELINE_FILE, history.to_json())  # first: a crash below is finished next time
    moved = ", ".join(filter(None, [set_aside(run_dir, history, step), *evaluations]))
    note = ""
    if moved:
        note = (f"history: continuing from step {step} as timeline {history.timeline}; the later history "
                f"({moved}) was moved to '{run_dir / ABANDONED_DIR / history.timeline}'")
    return history, note


def finish_interrupted(run_dir: Path) -> str:
    """Before choosing a checkpoint: set aside what a crashed rewind left of another history."""
    current = read_history(run_dir)
    if current is None:
        return ""
    moved = set_aside(run_dir, current, None)
    return f"history: moved {moved} (not timeline {current.timeline}'s) to '{run_dir / ABANDONED_DIR / current.timeline}'" if moved else ""
