"""Helpers shared by the reliability tests (tiny GAN configs, subprocess runs, state comparison)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from gan.config import load_config
from gan.generation.config import GANConfig

REPO = Path(__file__).resolve().parents[1]

# 16x16 shapes, 3 batches of 8 per epoch, narrow nets, no tracker, no sample grids.
TINY_GAN = [
    "log.tracker=none", "data.resolution=16", "data.shapes_size=24", "model.nz=8", "model.ngf=8", "model.ndf=8",
    "train.batch_size=8", "log.every=1", "log.sample_every=1000", "log.num_samples=4", "checkpoint.keep=10",
]


def tiny_cfg(out: Path, *overrides: str) -> GANConfig:
    return load_config(GANConfig, None, [*TINY_GAN, f"out_dir={out}", *overrides])


def train(out: Path, *overrides: str) -> int:
    """Train the tiny GAN in this process; returns the exit code."""
    from gan.generation.train import run_training

    return run_training(tiny_cfg(out, *overrides))


def env() -> dict[str, str]:
    # The same thread count as this process: CPU kernels sum in a thread-dependent order, and the
    # exact-resume test compares a run here with its continuation in the child bit for bit.
    threads = str(torch.get_num_threads())
    e = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=threads, WANDB_MODE="offline", HF_HUB_OFFLINE="1")
    e.pop("WORLD_SIZE", None)
    return e


def run_python(code: str, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    """Run ``python -c code args`` from the repo root (a new process), capturing its output."""
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env(), capture_output=True, text=True, timeout=timeout)


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def same_tree(a, b) -> bool:
    """Exact equality of nested dicts/lists of tensors and plain values (optimizer / RNG states)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_tree(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same_tree(x, y) for x, y in zip(a, b))
    if hasattr(a, "shape") and hasattr(a, "tolist"):  # numpy RNG arrays
        return a.tolist() == b.tolist()
    return a == b


def load_state_file(path: Path):
    if path.suffix == ".safetensors":
        return load_file(path)
    from accelerate.utils import load

    return load(path)  # weights_only=True


def differing_state_files(a: Path, b: Path) -> list[str]:
    """Names of model/optimizer/EMA/RNG files that differ between two checkpoint folders."""
    names = sorted(p.name for p in a.iterdir() if p.suffix in (".safetensors", ".bin", ".pkl"))
    assert names == sorted(p.name for p in b.iterdir() if p.suffix in (".safetensors", ".bin", ".pkl"))
    return [n for n in names if not same_tree(load_state_file(a / n), load_state_file(b / n))]
