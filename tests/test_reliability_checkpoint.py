"""Crash-safe checkpoints (a save that raises, kill -9 mid-save), retention and safe loading."""
from __future__ import annotations

import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from gan.config import load_config
from gan.engine.checkpoint import CheckpointManager, list_checkpoints, resolve_resume
from gan.engine.setup import make_accelerator
from gan.engine.trainer import Trainer, TrainerSettings
from gan.errors import CheckpointError, ConfigError
from gan.generation.config import GANConfig
from gan.generation.sampling import load_generator
from gan.generation.task import GANTask
from test_rel_utils import REPO, env, metrics, tiny_cfg, train

KILL_SCRIPT = """
import pathlib, sys, time
import accelerate
sys.path.insert(0, "tests")
from test_rel_utils import train

out, marker = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
save_state = accelerate.Accelerator.save_state

def save_then_hang(self, output_dir=None, **kwargs):  # test-only: hold the save-4 window open
    result = save_state(self, output_dir, **kwargs)
    if output_dir.endswith("-4"):
        marker.write_text("saving")
        time.sleep(300)
    return result

accelerate.Accelerator.save_state = save_then_hang
train(out, "train.steps=6", "checkpoint.every=2", "checkpoint.keep=2")
"""


class Evil:
    """Unpickling this runs a shell command: what a crafted checkpoint file would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def make_trainer(out, *overrides):
    cfg = tiny_cfg(out, *overrides)
    acc, logger = make_accelerator(cfg)
    return Trainer(TrainerSettings.of(cfg), GANTask(cfg, acc), acc, logger)


@pytest.fixture(scope="module")
def run4(tmp_path_factory):
    """A tiny run of 4 steps with complete checkpoints at 2 and 4."""
    out = tmp_path_factory.mktemp("ckpt") / "run"
    assert train(out, "train.steps=4", "checkpoint.every=2", "checkpoint.keep=2") == 0
    return out


def copy_run(run4, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run4, out)
    return out


def test_a_save_that_raises_keeps_the_previous_checkpoints_and_latest_skips_the_partial_one(run4, tmp_path, monkeypatch):
    out = copy_run(run4, tmp_path)
    trainer = make_trainer(out, "resume=latest", "checkpoint.keep=2")
    trainer.maybe_resume()
    trainer.step = 6

    def disk_full():
        raise OSError("No space left on device")

    monkeypatch.setattr(trainer.task.state, "state_tensors", disk_full)  # raises after save_state wrote the weights
    with pytest.raises(CheckpointError, match="No space left"):  # one line naming the folder and the free space
        trainer.save_checkpoint()
    root = out / "checkpoints"
    assert (root / ".tmp-checkpoint-6" / "model.safetensors").is_file()  # the partial save is there ...
    assert [p.name for p in list_checkpoints(root)] == ["checkpoint-2", "checkpoint-4"]  # ... but not counted
    assert resolve_resume("latest", root) == root / "checkpoint-4"
    # A folder named like a checkpoint but without its completion marker is skipped too.
    shutil.copytree(root / ".tmp-checkpoint-6", root / "checkpoint-8")
    assert resolve_resume("latest", root) == root / "checkpoint-4"
    with pytest.raises(CheckpointError, match="not a complete checkpoint"):
        resolve_resume(str(root / "checkpoint-8"), root)

    shutil.rmtree(root / "checkpoint-8")

    again = make_trainer(out, "resume=latest", "checkpoint.keep=2")
    again.maybe_resume()
    assert again.step == 4
    monkeypatch.undo()
    again.step = 6
    again.save_checkpoint()  # retention keeps the newest 2 complete ones and clears the partial save
    assert sorted(p.name for p in root.iterdir()) == ["checkpoint-4", "checkpoint-6"]
    again.save_checkpoint()  # re-saving the same step (preemption right after a save) replaces it whole
    assert sorted(p.name for p in root.iterdir()) == ["checkpoint-4", "checkpoint-6"]
    assert (root / "checkpoint-6" / "trainer_state.json").is_file()


def test_retention_needs_two_checkpoints(tmp_path):
    with pytest.raises(ConfigError, match="checkpoint.keep"):
        tiny_cfg(tmp_path, "checkpoint.keep=1")
    with pytest.raises(ValueError, match="keep must be >= 2"):
        CheckpointManager(tmp_path, 1, None)


def test_kill_9_during_a_save_leaves_the_previous_checkpoint_resumable(tmp_path):
    out, marker = tmp_path / "run", tmp_path / "in-save"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out), str(marker)], cwd=REPO, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the save of step 4 never started"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    root = out / "checkpoints"
    assert (root / ".tmp-checkpoint-4" / "model.safetensors").is_file()
    assert not (root / ".tmp-checkpoint-4" / "trainer_state.json").exists()
    assert [p.name for p in list_checkpoints(root)] == ["checkpoint-2"]

    assert train(out, "resume=latest", "train.steps=5", "checkpoint.every=2", "checkpoint.keep=2") == 0
    assert [m["step"] for m in metrics(out)] == [1, 2, 3, 4, 5]  # 3 and 4 again after the resume from 2
    assert sorted(p.name for p in root.iterdir()) == ["checkpoint-4", "checkpoint-5"]


@pytest.mark.parametrize("name", ["optimizer.bin", "random_states_0.pkl"])
def test_a_crafted_pickle_in_a_checkpoint_is_refused_without_running_it(run4, tmp_path, name):
    out = copy_run(run4, tmp_path)
    marker = tmp_path / "pwned"
    torch.save(Evil(marker), out / "checkpoints" / "checkpoint-4" / name)
    with pytest.raises(CheckpointError, match=f"refusing to load '.*{re.escape(name)}': not a plain tensor file"):
        make_trainer(out, f"resume={out / 'checkpoints' / 'checkpoint-4'}").maybe_resume()  # (latest falls back to checkpoint-2)
    assert not marker.exists()
    pickle.loads(pickle.dumps(Evil(tmp_path / "control")))  # plain unpickling would have run it
    assert (tmp_path / "control").exists()


def test_a_pickle_in_place_of_an_export_is_refused(run4, tmp_path):
    out = copy_run(run4, tmp_path)
    marker = tmp_path / "pwned"
    torch.save(Evil(marker), out / "export" / "generator.safetensors")
    with pytest.raises(CheckpointError, match="is not a readable safetensors file"):
        load_generator(out / "export")
    assert not marker.exists()


def test_yaml_configs_are_read_with_a_safe_loader(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f'out_dir: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(GANConfig, path)
    assert not marker.exists()


UNSAFE = [
    (re.compile(r"torch\.load\((?![^\n]*weights_only=True)"), "torch.load without weights_only=True"),
    (re.compile(r"\bpickle\.loads?\(|\bdill\.|\bcloudpickle\."), "pickle loading"),
    (re.compile(r"yaml\.(unsafe_)?load\(|yaml\.Loader\b|FullLoader"), "an unsafe YAML loader"),
    (re.compile(r"\bimportlib\b|__import__\(|(?<![.\w])eval\(|(?<![.\w])exec\("), "importing or evaluating names"),
    # torch-fidelity's *_cached helpers and its cache option read .pt files with torch.load(weights_only=False)
    (re.compile(r"_cached\(|[\"']cache[\"']\s*:\s*True|\bcache_root\b|\bcache\s*=\s*True"), "torch-fidelity's unpickling cache"),
]


def test_no_code_path_unpickles_or_imports_by_name():
    found = []
    for path in sorted((REPO / "gan").rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"{path.relative_to(REPO)}:{lineno}: {why}" for rx, why in UNSAFE if rx.search(line)]
    assert found == []
