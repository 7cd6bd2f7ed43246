"""Every shell command of README.md and docs/*.md runs (at tiny size) as a user would type it.

The commands run in document order in one temporary folder that holds the repository's scripts and
configs, so a later command uses what an earlier one wrote (`sample.py runs/quickstart` after the
quick start). The Hub repo id they name (user/my-gan) is a tiny export in an offline Hub cache. What each kind of block means, and the tiny arguments, are in ``readme_commands.py``.
"""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, offline_env
from readme_commands import TINY_ARGS, Command, options, read_commands, with_tiny_args, without_install_steps
from tiny_exports import populate_hub_cache, write_conditional_hub

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMANDS = [c for doc in DOCS for c in read_commands(doc, REPO)]
LINKED = ["accelerate.yaml", "train_gan.py", "train_seg.py", "sample.py", "evaluate.py", "export.py", "demo.py", "predict_seg.py",
          "configs", "benchmarks", "gan"]


def _png(path: Path, rng: np.random.Generator, size: int = 40, channels: int = 3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size, size, channels) if channels == 3 else (size, size)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)


def _fixtures(root: Path) -> None:
    """The inputs the documents name: a user's image folders and stand-ins for ../shared/data."""
    rng = np.random.default_rng(0)
    for i in range(12):
        _png(root / "work" / "my_images" / f"img{i:02d}.png", rng)
        _png(root / "work" / "my_classes" / ("cats" if i % 2 else "dogs") / f"img{i:02d}.png", rng)
    shared = root / "shared" / "data"
    for digit in range(10):
        for i in range(3):
            _png(shared / "mnist-test" / str(digit) / f"{digit}{i}.png", rng, size=28, channels=1)
    (shared / "membrane" / "masks").mkdir(parents=True)
    for i in range(8):
        _png(shared / "membrane" / "images" / f"{i:02d}.png", rng, size=64, channels=1)
        mask = (rng.random((64, 64)) > 0.3).astype(np.uint8) * 255
        Image.fromarray(mask).save(shared / "membrane" / "masks" / f"{i:02d}.png")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    (root / "work").mkdir()
    for name in LINKED:
        (root / "work" / name).symlink_to(REPO / name)
    _fixtures(root)
    # the Hub repo the documents name (user/my-gan), as a tiny conditional generator in an offline Hub cache
    populate_hub_cache(_hub_cache(root / "work"), "user/my-gan", write_conditional_hub(root / "my-gan-repo"))
    return root / "work"


def _hub_cache(cwd: Path) -> Path:
    return cwd.parent / "hf_cache"


@pytest.fixture(scope="module")
def tiny_args(weights: str) -> dict[str, list[str]]:
    """Tiny arguments, plus the test's random Inception (nothing can be downloaded here)."""
    extra = {k: list(v) for k, v in TINY_ARGS.items()}
    for script in ("train_gan.py", "evaluate.py"):
        extra[script].append(f"eval.inception_weights={weights}")
    return extra


def _env(cwd: Path) -> dict[str, str]:
    env = offline_env()
    env.update(WANDB_MODE="offline", HF_HUB_CACHE=str(_hub_cache(cwd)))
    return env


def _run(text: str, cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", text], cwd=cwd, env=_env(cwd), capture_output=True, text=True, timeout=timeout)


def _show(cmd: Command, text: str, done: subprocess.CompletedProcess) -> str:
    return f"{cmd.source}: {text}\nexit {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(cmd: Command, text: str, cwd: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(["bash", "-c", f"exec {text} --port {port}"], cwd=cwd, env=_env(cwd),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"{cmd.source}: '{text}' exited {proc.returncode}:\n{proc.stdout.read()[-3000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    assert answer.status == 200
                    return
            except OSError:
                time.sleep(1)
        pytest.fail(f"{cmd.source}: '{text}' did not answer on port {port} within 120 s")
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
        assert "Traceback" not in output, f"{cmd.source}: '{text}' printed a traceback:\n{output[-3000:]}"


@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.source for c in COMMANDS])
def test_command(cmd: Command, workdir: Path, tiny_args: dict[str, list[str]]) -> None:
    if cmd.kind == "ci":
        ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        assert cmd.text in ci, f"{cmd.source}: .ci/run does not run the README's test command '{cmd.text}'"
        return
    if cmd.kind == "benchmark":
        script = cmd.script()
        assert script and (REPO / script).is_file(), f"{cmd.source}: '{cmd.text}' names no existing script"
        source = (REPO / script).read_text(encoding="utf-8")  # read, not run: benchmarks take minutes to hours
        missing = [o for o in options(cmd.text) if f'"{o}"' not in source]
        assert not missing, f"{cmd.source}: {script} defines no option {missing}"
        return
    script = cmd.script()
    if script and script.startswith("benchmarks/") and script not in tiny_args:
        pytest.fail(f"{cmd.source}: '{script}' has no tiny arguments: mark its block <!-- commands: benchmark --> or add them to TINY_ARGS")
    text = with_tiny_args(without_install_steps(cmd.text) if cmd.kind == "install" else cmd.text, tiny_args)
    if cmd.kind == "server":
        _serve(cmd, text, workdir)
        return
    done = _run(text, workdir)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, _show(cmd, text, done)
    if cmd.kind in ("network", "gpu"):
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert done.returncode != 0 and len(errors) == 1, _show(cmd, text, done)
        return
    assert done.returncode == 0, _show(cmd, text, done)
    if cmd.kind == "install":  # the main job's output starts with the toolkit's own line, not the launcher's
        assert done.stdout.startswith("device ") and not done.stderr.startswith("The following values"), _show(cmd, text, done)


def test_documents_have_commands_of_every_kind_they_promise() -> None:
    """The README keeps its set-up, test and demo commands (a parser bug would silently skip them)."""
    kinds = {c.kind for c in COMMANDS if c.source.startswith("README.md")}
    assert {"install", "ci", "run", "server"} <= kinds
    assert sum(c.kind == "run" for c in COMMANDS) >= 10
