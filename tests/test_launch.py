"""Real `accelerate launch` runs: a quiet start, one-line user errors, the launcher's --mixed_precision."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, TINY, offline_env
from gan.engine.precision import LAUNCHER_ENV, launcher_precision, resolve_precision, run_precision
from gan.errors import ConfigError

ACCELERATE = str(Path(sys.executable).with_name("accelerate"))
if not Path(ACCELERATE).exists():
    ACCELERATE = shutil.which("accelerate") or "accelerate"

# What `accelerate config default` writes on a CPU machine (README: run it once to silence the
# launcher's "values were not passed" warning); written here into a private HF_HOME.
DEFAULT_ACCELERATE_CONFIG = {
    "compute_environment": "LOCAL_MACHINE", "debug": False, "distributed_type": "NO", "downcast_bf16": False,
    "enable_cpu_affinity": False, "machine_rank": 0, "main_training_function": "main", "mixed_precision": "no",
    "num_machines": 1, "num_processes": 1, "rdzv_backend": "static", "same_network": False, "tpu_use_cluster": False,
    "tpu_use_sudo": False, "use_cpu": True,
}


@pytest.fixture
def hf_home(tmp_path: Path) -> Path:
    """A private HF_HOME holding the default Accelerate config (never the user's ~/.cache/huggingface)."""
    home = tmp_path / "hf"
    (home / "accelerate").mkdir(parents=True)
    (home / "accelerate" / "default_config.yaml").write_text(json.dumps(DEFAULT_ACCELERATE_CONFIG))
    return home


def launch(launch_args: list[str], script_args: list[str], hf_home: Path, **env: str) -> subprocess.CompletedProcess:
    """``accelerate launch [launch_args] train_gan.py --config configs/quickstart.yaml [script_args]``."""
    e = offline_env()
    e.update({"HF_HOME": str(hf_home), **env})
    args = [ACCELERATE, "launch", *launch_args, "train_gan.py", "--config", "configs/quickstart.yaml", *script_args]
    return subprocess.run(args, cwd=REPO, env=e, capture_output=True, text=True, timeout=300)


def test_quick_start_begins_with_the_toolkit_line_and_wandb_offline_says_one_line(tmp_path, hf_home):
    res = launch([], [*TINY, "log.tracker=wandb", "train.steps=1", f"out_dir={tmp_path / 'run'}"], hf_home)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout.splitlines()
    assert out[0].startswith("device cpu, ") and " precision " in out[0], res.stdout
    assert "were not passed to `accelerate launch`" not in res.stderr
    wandb_lines = [line for line in (res.stdout + res.stderr).splitlines() if line.startswith("wandb:")]
    assert len(wandb_lines) == 1 and "logging offline" in wandb_lines[0] and "wandb sync " in wandb_lines[0], wandb_lines
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))  # the run is still recorded


@pytest.mark.parametrize("where", ["config", "after_tracker_start"])
def test_a_user_error_under_accelerate_launch_is_one_line(tmp_path, hf_home, where):
    # --quiet (-q) is Accelerate's documented switch for "errors without the launcher traceback";
    # without it the launcher re-raises any non-zero exit as CalledProcessError with the child's stderr.
    bad = ["train.stepz=3"] if where == "config" else [*TINY, "log.tracker=wandb", f"resume={tmp_path / 'none'}",
                                                      f"out_dir={tmp_path / 'run'}"]
    res = launch(["-q", "--num_processes", "1"], bad, hf_home)
    assert res.returncode != 0
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    if where == "config":
        assert lines[0] == "error: unknown config key 'train.stepz' (did you mean 'train.steps'?)"


def test_launcher_mixed_precision_wins_over_auto(tmp_path, hf_home):
    res = launch(["--mixed_precision", "no"], [*TINY, "train.steps=1", f"out_dir={tmp_path / 'run'}"], hf_home)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.splitlines()[0].endswith("precision fp32"), res.stdout
    # the same launch without the flag (the config file's "no" is the launcher's default) keeps auto
    res = launch([], [*TINY, "train.steps=1", f"out_dir={tmp_path / 'run2'}"], hf_home)
    auto = resolve_precision("auto", "cpu")
    assert res.stdout.splitlines()[0].endswith(f"precision {'fp32' if auto == 'no' else auto}"), res.stdout


def test_launcher_mixed_precision_contradicting_the_config_is_refused(tmp_path, hf_home):
    res = launch(["-q", "--mixed_precision", "fp16"], [*TINY, "train.mixed_precision=bf16", f"out_dir={tmp_path / 'run'}"], hf_home)
    assert res.returncode != 0
    assert res.stderr.splitlines() == ["error: config key 'train.mixed_precision' is 'bf16' but accelerate launch was given "
                                       "--mixed_precision fp16 (flag or its config file): pass one of them, or the same value"]
    assert not list((tmp_path / "run").rglob("*"))  # nothing written (at most the empty folder claimed for the run)


def test_launcher_precision_tells_a_passed_value_from_the_default(monkeypatch):
    monkeypatch.delenv(LAUNCHER_ENV, raising=False)
    assert launcher_precision(["accelerate", "launch", "--mixed_precision", "no"]) is None  # not launched
    monkeypatch.setenv(LAUNCHER_ENV, "no")
    assert launcher_precision(["accelerate", "launch"]) is None  # the launcher's default
    assert launcher_precision(["accelerate", "launch", "--mixed_precision", "no"]) == "no"
    assert launcher_precision(["accelerate", "launch", "--mixed_precision=no"]) == "no"
    monkeypatch.setenv(LAUNCHER_ENV, "bf16")
    assert launcher_precision(["accelerate", "launch"]) == "bf16"  # never a default: a flag or a config file
    assert run_precision("auto", "cpu", "fp16") == "fp16" and run_precision("fp16", "cpu", "fp16") == "fp16"
    assert run_precision("no", "cpu", None) == "no"
    with pytest.raises(ConfigError, match="expected one of no, fp16, bf16"):
        run_precision("auto", "cpu", "fp8")
    with pytest.raises(ConfigError, match="'train.mixed_precision' is 'no'"):
        run_precision("no", "cpu", "bf16")
    assert os.environ[LAUNCHER_ENV] == "bf16"
