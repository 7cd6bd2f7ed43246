"""The shell commands of README.md and docs/*.md, read from their fenced ``bash`` blocks.

A block runs as written unless the comment line just above its fence names another kind,
``<!-- commands: KIND -->``:

- ``install``: the README's set-up command; the test runs what follows the install steps
  (``python3 -m venv``, ``. .venv/bin/activate``, ``pip install``) in the environment it already has.
- ``ci``: the README's test command; ``.ci/run`` must run exactly this line.
- ``server``: a command that serves until stopped (the demo); it must answer on its port.
- ``network``, ``gpu``: need the network, credentials or a GPU, none of which the tests have; each
  must stop with one ``error:`` line and no traceback.
- ``benchmark``: reads ``../shared/data`` and runs for minutes or hours; its script must exist and
  define every option the command uses (checked in its source; benchmarks are not run here).

Every other command runs in one temporary folder, in document order, at tiny size: the test appends
the arguments of :data:`TINY_ARGS` to the script each command runs (later arguments win).

Fenced ``python`` blocks of the README are marked ``<!-- python: run -->`` just above their fence and run
by ``tests/test_readme_python.py`` (:func:`read_python_blocks`); an unmarked one is an error there.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

KINDS = ("run", "install", "ci", "server", "network", "gpu", "benchmark")
_MARKER = re.compile(r"^<!--\s*commands:\s*(\w+)\s*-->$")
_FENCE = re.compile(r"^```(bash|sh|shell)\s*$")
_PYTHON_FENCE = re.compile(r"^```python\s*$")
PYTHON_MARKER = "<!-- python: run -->"
_SCRIPT = re.compile(r"(?<![\w/.-])((?:benchmarks/)?\w+\.py)\b")
INSTALL_STEPS = ("python3 -m venv", ". .venv/bin/activate", "pip install")

# Appended to a command by the script it runs: sizes only, so every command finishes in seconds.
TINY_ARGS: dict[str, list[str]] = {
    "train_gan.py": [
        "data.shapes_size=64", "model.nz=8", "model.ngf=8", "model.ndf=8", "train.batch_size=8", "train.steps=4",
        "log.every=2", "log.sample_every=2", "log.num_samples=8", "checkpoint.every=2", "eval.num_samples=8",
        "eval.kid_subset_size=4", "eval.batch_size=8",
    ],
    "train_seg.py": [
        "data.shapes_size=16", "data.shapes_val_size=4", "data.resolution=32", "model.ngf=8", "model.ndf=8",
        "train.batch_size=4", "train.steps=4", "log.every=2", "checkpoint.every=2",
    ],
    "evaluate.py": ["--num-samples", "8", "eval.kid_subset_size=4", "eval.batch_size=8"],
    "benchmarks/shape_classifier.py": ["--train-images", "64", "--holdout", "16", "--epochs", "1"],
    "benchmarks/digit_classifier.py": ["--epochs", "1", "--holdout", "10"],
}


@dataclass
class Command:
    """One shell command of a document: its text, kind and where it is written."""

    text: str
    kind: str
    source: str  # "README.md:31"

    def script(self) -> str | None:
        """The toolkit or benchmark script the command runs (the first ``*.py`` it names), if any."""
        match = _SCRIPT.search(self.text.split(" #")[0])
        return match.group(1) if match else None


def read_commands(path: Path, root: Path) -> list[Command]:
    """Every command of the fenced shell blocks of ``path`` (continuation lines joined, comment lines dropped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Command] = []
    kind, inside, pending, start = "run", False, "", 0
    for number, line in enumerate(lines, start=1):
        if not inside:
            if _FENCE.match(line):
                inside = True
                previous = next((x.strip() for x in reversed(lines[: number - 1]) if x.strip()), "")
                marker = _MARKER.match(previous)
                kind = marker.group(1) if marker else "run"
                if kind not in KINDS:
                    raise ValueError(f"{path.name}:{number - 1}: unknown command kind {kind!r}; expected one of {KINDS}")
            continue
        if line.startswith("```"):
            inside = False
            continue
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        out.append(Command(pending + stripped, kind, f"{path.relative_to(root)}:{start}"))
        pending = ""
    return out


def read_python_blocks(path: Path, root: Path) -> list[Command]:
    """Every fenced ``python`` block of ``path``: kind ``run`` under :data:`PYTHON_MARKER`, else ``unmarked``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Command] = []
    start = None
    for number, line in enumerate(lines, start=1):
        if start is None and _PYTHON_FENCE.match(line):
            start = number
        elif start is not None and line.startswith("```"):
            previous = next((x.strip() for x in reversed(lines[: start - 1]) if x.strip()), "")
            kind = "run" if previous == PYTHON_MARKER else "unmarked"
            out.append(Command("\n".join(lines[start:number - 1]) + "\n", kind, f"{path.relative_to(root)}:{start}"))
            start = None
    return out


def without_install_steps(text: str) -> str:
    """The part of a set-up command after its install steps (the environment the tests run in has them)."""
    steps = [s.strip() for s in text.split("&&")]
    kept = [s for s in steps if not s.startswith(INSTALL_STEPS)]
    return " && ".join(kept)


def with_tiny_args(text: str, extra: dict[str, list[str]]) -> str:
    """``text`` with each ``&&`` step's script followed by its tiny arguments (trailing comment dropped)."""
    import shlex

    steps = []
    for step in re.split(r"\s+#\s", text, maxsplit=1)[0].split("&&"):
        match = _SCRIPT.search(step)
        args = extra.get(match.group(1), []) if match else []
        steps.append(step.rstrip() + "".join(" " + shlex.quote(a) for a in args))
    return " && ".join(s.strip() for s in steps)


def options(text: str) -> list[str]:
    """The ``--long-options`` a command passes."""
    return re.findall(r"(?<!\S)(--[a-z][\w-]*)", re.split(r"\s+#\s", text, maxsplit=1)[0])
