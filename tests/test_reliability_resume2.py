"""Resume edge cases: unreadable or incomplete checkpoints, leftovers of interrupted saves, a refused
resume, a different process count and a failed (disk-full) save."""
from __future__ import annotations

import errno
import os
import shutil

import pytest

from gan.engine.checkpoint import list_checkpoints
from gan.engine.setup import make_accelerator
from gan.engine.trainer import Trainer, TrainerSettings
from gan.errors import CheckpointError
from gan.generation.task import GANTask
from test_rel_utils import metrics, tiny_cfg, train


@pytest.fixture(scope="module")
def run4(tmp_path_factory):
    """A tiny run of 4 steps with complete checkpoints at 2 and 4."""
    out = tmp_path_factory.mktemp("resume2") / "run"
    assert train(out, "train.steps=4", "checkpoint.every=2") == 0
    return out


@pytest.fixture
def run(run4, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run4, out)
    return out


def make_trainer(out, *overrides) -> Trainer:
    cfg = tiny_cfg(out, *overrides)
    acc, logger = make_accelerator(cfg)
    return Trainer(TrainerSettings.of(cfg), GANTask(cfg, acc), acc, logger)


def test_a_garbage_trainer_state_is_one_line_and_latest_falls_back(run, capsys):
    state = run / "checkpoints" / "checkpoint-4" / "trainer_state.json"
    state.write_text("{garbage")
    with pytest.raises(CheckpointError, match=rf"^'{state}' is not readable JSON \(Expecting"):
        train(run, "train.steps=5", f"resume={state.parent}")
    state.write_text("[1, 2]")
    with pytest.raises(CheckpointError, match=r"lacks step, data, config; not a trainer state"):
        train(run, "train.steps=5", f"resume={state.parent}")

    capsys.readouterr()
    assert train(run, "train.steps=5", "checkpoint.every=100", "resume=latest") == 0
    out = capsys.readouterr().out
    assert "warning: resume=latest skips checkpoint-4: " in out and "lacks step, data, config" in out
    assert f"resumed from {run / 'checkpoints' / 'checkpoint-2'} at step 2" in out
    assert [m["step"] for m in metrics(run)] == [1, 2, 3, 4, 5]


def test_a_missing_weights_file_is_named(run, capsys):
    (run / "checkpoints" / "checkpoint-4" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"checkpoint-4' is missing 'model.safetensors' \(listed in trainer_state.json\)"):
        train(run, "train.steps=5", f"resume={run / 'checkpoints' / 'checkpoint-4'}")
    trainer = make_trainer(run, "resume=latest")
    trainer.maybe_resume()
    assert trainer.step == 2
    assert "warning: resume=latest skips checkpoint-4: " in capsys.readouterr().out


def test_a_refused_resume_leaves_config_yaml_alone(run):
    before = (run / "config.yaml").read_text()
    with pytest.raises(CheckpointError, match="config differs from the checkpoint's in model.ngf"):
        train(run, "train.steps=5", "model.ngf=16", "resume=latest")
    assert (run / "config.yaml").read_text() == before


def test_leftovers_of_interrupted_saves_are_cleared_before_a_resume(run):
    root = run / "checkpoints"
    shutil.copytree(root / "checkpoint-2", root / ".tmp-checkpoint-6")  # a save killed half-way
    os.replace(root / "checkpoint-4", root / ".old-checkpoint-4")  # killed between publish's two renames
    trainer = make_trainer(run, "resume=latest")
    trainer.maybe_resume()
    assert trainer.step == 4  # the complete folder that was moved aside is put back
    assert sorted(p.name for p in root.iterdir()) == ["checkpoint-2", "checkpoint-4"]


def test_resuming_with_another_process_count_says_what_changes(run, capsys):
    ckpt = run / "checkpoints" / "checkpoint-4"
    for name in ("random_states_{}.pkl", "toolkit_rng_{}.safetensors"):  # what a second process adds
        shutil.copy(ckpt / name.format(0), ckpt / name.format(1))
    make_trainer(run, "resume=latest").maybe_resume()
    assert ("note: checkpoint-4 was written by 2 processes, resuming with 1: the data shards, the data position "
            "within the epoch and the effective batch (2 -> 1 x train.batch_size) change") in capsys.readouterr().out


def test_a_failed_save_is_one_line_with_the_free_space_and_keeps_the_previous_checkpoint(run, monkeypatch):
    trainer = make_trainer(run, "resume=latest")
    trainer.maybe_resume()
    trainer.step = 6

    def disk_full(folder):
        (trainer.run_dir / "checkpoints" / ".tmp-checkpoint-6" / "model.safetensors").write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0\nmore")

    monkeypatch.setattr(trainer.accelerator, "save_state", disk_full)
    with pytest.raises(CheckpointError) as err:
        trainer.save_checkpoint()
    tmp = run / "checkpoints" / ".tmp-checkpoint-6"
    assert str(err.value).startswith(f"cannot write checkpoint '{tmp}': [enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0 (")
    assert str(err.value).endswith(f"MiB free on that disk); the previous complete checkpoints in '{run / 'checkpoints'}' are kept")
    assert "\n" not in str(err.value)
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["checkpoint-2", "checkpoint-4"]

    def no_space():
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.undo()
    monkeypatch.setattr(trainer.task.state, "state_tensors", no_space)  # while the main process writes its extras
    with pytest.raises(CheckpointError, match=r"\[Errno 28\] No space left on device \(\d+ MiB free on that disk\)"):
        trainer.save_checkpoint()


def test_a_checkpoint_from_before_a_setting_existed_resumes(run):
    # Written by an older version: no `augment` section, no `data.limit`. They count as their defaults.
    import json

    state_file = run / "checkpoints" / "checkpoint-4" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    del state["config"]["augment"], state["config"]["data"]["limit"]
    state_file.write_text(json.dumps(state))
    assert train(run, "train.steps=5", "resume=latest") == 0
    with pytest.raises(CheckpointError, match="config differs from the checkpoint's in augment.policy"):
        train(run, "train.steps=6", "resume=latest", "augment.policy=color")
