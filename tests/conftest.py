"""Shared test helpers: tiny configs and a subprocess runner that never touches the network."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Tiny, fast settings for end-to-end runs (16x16 RGB shapes, narrow nets, no tracker).
TINY = [
    "data.name=shapes", "data.resolution=16", "data.shapes_size=64", "model.nz=8", "model.ngf=8",
    "model.ndf=8", "train.batch_size=8", "log.tracker=none", "log.every=1", "log.num_samples=16",
]


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets one core's worth of torch threads: two workers of two threads
    each on a 2-core machine spin against each other (OpenMP busy-waits) and run slower than one."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))


@pytest.fixture(autouse=True, scope="session")
def private_cache_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Decoded-data and metrics caches go to a temp folder, never the user's ~/.cache (subprocesses inherit it)."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg_cache"))


def offline_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"})
    return env


def run_cmd(args: list[str], cwd: Path = REPO, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a command of the repo, returning its completed process (output captured as text)."""
    return subprocess.run(args, cwd=cwd, env=offline_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def python() -> str:
    return sys.executable


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Accelerate keeps one process-wide state (mixed precision included); each test starts from a new one.

    ``train.mixed_precision=auto`` resolves per machine, so tests asking for another precision would
    otherwise meet the state an earlier test left.
    """
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> str:
    """A randomly initialised InceptionV3 weights file in torch-fidelity's format (nothing is downloaded)."""
    from gan.evaluation.weights import write_random_inception_weights

    path = tmp_path_factory.getbasetemp() / "inception-random" / "weights.pth"
    if not path.exists():
        write_random_inception_weights(path, seed=0)
    return str(path)
