"""End to end: `accelerate launch train_gan.py` -> grid, checkpoint, export -> resume -> sample.py."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from conftest import TINY, run_cmd

LAUNCH = ["accelerate", "launch", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]


def train(out, *overrides):
    # The unconditional path (the quick start itself is class-conditional; tests/test_conditional.py covers that path).
    args = LAUNCH + ["train_gan.py", "--config", "configs/quickstart.yaml", *TINY, "model.num_classes=0", f"out_dir={out}", "checkpoint.every=3",
                     "log.sample_every=3", *overrides]
    return run_cmd(args)


def pixels(path):
    return np.asarray(Image.open(path))


def test_train_resume_and_sample(tmp_path):
    run = tmp_path / "run"
    first = train(run, "train.steps=6")
    assert first.returncode == 0, first.stderr[-3000:]
    for name in ("config.yaml", "metrics.jsonl", "loss_curves.png", "samples/step-0000003.png", "samples/latest.png",
                 "export/generator.safetensors", "export/generator.json", "checkpoints/checkpoint-3/trainer_state.json",
                 "checkpoints/checkpoint-6/model.safetensors", "checkpoints/checkpoint-6/optimizer_1.bin"):
        assert (run / name).is_file(), name
    grid = pixels(run / "samples" / "latest.png")
    assert grid.shape == (4 * 16 + 5 * 2, 4 * 16 + 5 * 2, 3)  # 16 samples of 16x16, 2px padding
    state = json.loads((run / "checkpoints" / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["step"] == 6 and state["config"]["model"]["ngf"] == 8

    resumed = train(run, "train.steps=9", "resume=latest")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {run / 'checkpoints' / 'checkpoint-6'} at step 6" in resumed.stdout
    assert "resuming with changed settings: resume, train.steps" in resumed.stdout
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 10))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["checkpoint-3", "checkpoint-6", "checkpoint-9"]

    out = tmp_path / "out"
    sampled = run_cmd(["python", "sample.py", str(run), "--grid", str(out / "grid.png"), "--seeds", "0-7", "--nrow", "4",
                       "--out", str(out / "b8"), "--interpolate", str(out / "interp.png"), "--steps", "5"])
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    assert pixels(out / "grid.png").shape == (2 * 16 + 3 * 2, 4 * 16 + 5 * 2, 3)
    assert sorted(p.name for p in (out / "b8").iterdir()) == [f"seed{s:06d}.png" for s in range(8)]
    assert pixels(out / "interp.png").shape == (7 * 16 + 8 * 2, 5 * 16 + 6 * 2, 3)  # 7 seed pairs x 5 steps

    # Same seeds, another batch size and another source (the checkpoint folder): the same images.
    again = run_cmd(["python", "sample.py", str(run / "checkpoints" / "checkpoint-9"), "--out", str(out / "b1"), "--seeds", "2-3", "--batch-size", "1"])
    assert again.returncode == 0, again.stderr[-3000:]
    for s in (2, 3):
        assert np.array_equal(pixels(out / "b1" / f"seed{s:06d}.png"), pixels(out / "b8" / f"seed{s:06d}.png"))


def test_cli_errors_are_one_line_and_keep_files(tmp_path):
    bad = run_cmd(["python", "train_gan.py", "--config", "configs/quickstart.yaml", "train.steps=ten"])
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: config key 'train.steps': got 'ten', expected int"
    missing = run_cmd(["python", "train_gan.py", "--config", "configs/quickstart.yaml", *TINY, "data.name=image_folder",
                       f"data.root={tmp_path / 'nope'}", f"out_dir={tmp_path / 'r'}"])
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == f"error: data.root '{tmp_path / 'nope'}' is not a folder (data.name=image_folder needs a folder of images)"
    tiny = run_cmd(["python", "train_gan.py", "--config", "configs/quickstart.yaml", *TINY, "data.shapes_size=5",
                    "train.batch_size=8", f"out_dir={tmp_path / 'small'}"])
    assert tiny.returncode == 2
    assert tiny.stderr.strip().splitlines()[-1] == (
        "error: the dataset (5 items) is smaller than one batch per process: lower train.batch_size or add data")
    nothing = run_cmd(["python", "sample.py", str(tmp_path)  , "--grid", "g.png"])
    assert nothing.returncode == 2 and "holds no generator.safetensors" in nothing.stderr


def test_dry_run_prints_the_resolved_config_and_writes_nothing(tmp_path):
    out = tmp_path / "never"
    res = run_cmd(["python", "train_gan.py", "--config", "configs/quickstart.yaml", "--dry-run", "model.ngf=48", f"out_dir={out}"])
    assert res.returncode == 0
    assert "  ngf: 48\n" in res.stdout and f"out_dir: {out}" in res.stdout
    assert not out.exists()
