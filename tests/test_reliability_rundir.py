"""One run per run directory: a fresh run never mixes with an old one, and a lock keeps a second run out."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import REPO
from gan.engine.rundir import LOCK_FILE
from gan.engine.trainer import Hook
from gan.errors import CheckpointError, ConfigError
from gan.generation.train import run_training
from test_rel_utils import TINY_GAN, metrics, tiny_cfg, train
from train_gan import main as train_gan_main


def test_a_fresh_run_into_a_used_out_dir_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out, "train.steps=2", "checkpoint.every=1") == 0
    before = {p.name: p.read_bytes() for p in (out / "config.yaml", out / "metrics.jsonl")}
    capsys.readouterr()
    code = train_gan_main(["--config", str(REPO / "tests/defaults.yaml"), *TINY_GAN, f"out_dir={out}", "train.steps=3"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: '{out}' already holds a run (checkpoints and metrics.jsonl)")
    assert "resume=latest" in err and "new out_dir" in err and "overwrite=true" in err
    assert {p.name: p.read_bytes() for p in (out / "config.yaml", out / "metrics.jsonl")} == before
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-1", "checkpoint-2"]
    assert not (out / LOCK_FILE).exists()  # released after the refusal too


def test_overwrite_removes_only_the_old_runs_own_outputs(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out, "train.steps=3", "checkpoint.every=1") == 0
    (out / "notes.txt").write_text("mine")
    (out / "samples").mkdir(exist_ok=True)
    (out / "samples" / "old.png").write_bytes(b"old")
    assert train(out, "train.steps=2", "checkpoint.every=2", "overwrite=true") == 0
    assert "overwrite=true: removed the previous run's outputs" in capsys.readouterr().out
    assert [m["step"] for m in metrics(out)] == [1, 2]  # only the new run's records
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-2"]
    assert not (out / "samples" / "old.png").exists() and (out / "notes.txt").read_text() == "mine"
    # The destructive flag is not recorded: relaunching from config.yaml cannot wipe the run, and a
    # resume (overwrite unset) matches the checkpoint's config.
    assert "overwrite: false" in (out / "config.yaml").read_text()
    assert train(out, "train.steps=3", "checkpoint.every=2", "resume=latest") == 0
    assert [m["step"] for m in metrics(out)] == [1, 2, 3]
    with pytest.raises(ConfigError, match=r"config key 'overwrite': got True, expected false with resume='latest' \(overwrite=true deletes the run in out_dir, resume continues it"):
        train(out, "overwrite=true", "resume=latest")


def test_a_run_holds_a_lock_released_on_errors(tmp_path):
    out, seen = tmp_path / "run", []

    def look(step: int) -> None:
        seen.append(json.loads((out / LOCK_FILE).read_text()))
        raise RuntimeError("hook failed")

    with pytest.raises(RuntimeError, match="hook failed"):
        run_training(tiny_cfg(out, "train.steps=2"), [Hook(1, look)])
    assert seen == [{"host": socket.gethostname(), "pid": os.getpid()}]
    assert not (out / LOCK_FILE).exists()


def test_a_second_run_on_a_locked_out_dir_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = {"host": socket.gethostname(), "pid": os.getppid()}  # a live process
    (out / LOCK_FILE).write_text(json.dumps(holder))
    with pytest.raises(CheckpointError) as err:
        train(out, "train.steps=1")
    assert str(err.value) == (
        f"run directory '{out}' is in use by process {holder['pid']} on host {holder['host']} (lock file '{out / LOCK_FILE}'); "
        "wait for that run, use another out_dir, or delete the lock file if that run is gone"
    )
    assert json.loads((out / LOCK_FILE).read_text()) == holder  # the other run's lock is left alone
    assert not (out / "config.yaml").exists() and not (out / "metrics.jsonl").exists()


def test_a_stale_lock_is_reported_and_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(gone.stdout)  # a process that has exited
    (out / LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": pid}))
    assert train(out, "train.steps=1") == 0
    assert f"note: taking over the stale lock '{out / LOCK_FILE}' of process {pid} on {socket.gethostname()} (no longer running)" in capsys.readouterr().out
    assert not (out / LOCK_FILE).exists()
    assert [m["step"] for m in metrics(out)] == [1]
