"""The runs that the scripts' --help examples read are runs that a config in configs/ writes."""
from __future__ import annotations

import re
import sys

import pytest

from conftest import REPO, run_cmd
from gan.config import load_config
from gan.generation.config import GANConfig


def config_out_dirs() -> dict[str, str]:
    """``out_dir`` of every GAN config (segmentation configs have another schema and are read as plain YAML)."""
    import yaml

    return {yaml.safe_load(p.read_text())["out_dir"]: p.name for p in sorted((REPO / "configs").glob("*.yaml"))}


def test_mnist_cond_writes_runs_digits():
    assert load_config(GANConfig, REPO / "configs" / "mnist_cond.yaml").out_dir == "runs/digits"


@pytest.mark.parametrize("script", ["sample.py", "evaluate.py"])
def test_help_examples_read_runs_that_a_config_writes(script: str):
    done = run_cmd([sys.executable, script, "--help"])
    assert done.returncode == 0, done.stderr
    runs = {m.group(1) for m in re.finditer(r"python \S+\.py (runs/[\w.-]+)", done.stdout)}
    assert runs and not runs - set(config_out_dirs()), f"{sorted(runs - set(config_out_dirs()))} written by no config in configs/"
