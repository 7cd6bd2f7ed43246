"""Exact resume of segmentation fine-tuning: a resumed run in a new process equals a straight run."""
from __future__ import annotations

import json
import shutil

from test_rel_utils import differing_state_files, metrics, run_python

STEPS, STOP = 6, 3
# 16x16 shapes, augmentation on (it draws from the task's saved generator), cosine schedule.
TINY_SEG = [
    "data.name=shapes", "data.resolution=16", "data.shapes_size=24", "data.shapes_val_size=8", "model.ngf=8",
    "model.ndf=8", "model.max_channels=32", "train.batch_size=8", f"train.steps={STEPS}", "eval.every=3",
    "eval.overlay_images=1", "log.tracker=none", "log.every=1", "checkpoint.every=1",
    "checkpoint.keep=10", "data.augment=[hflip, rot90]",
]
RUN = """
import sys
from gan.seg.config import load_seg_config
from gan.seg.train import run_seg_training
sys.exit(run_seg_training(load_seg_config(None, sys.argv[2:] + ["out_dir=" + sys.argv[1]])))
"""


def test_segmentation_resume_in_a_new_process_matches_a_straight_run(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    res = run_python(RUN, str(straight), *TINY_SEG)
    assert res.returncode == 0, res.stderr[-3000:]
    # The stopped run: the straight run's checkpoint at STOP and its log up to there.
    shutil.copytree(straight / "checkpoints" / f"checkpoint-{STOP}", resumed / "checkpoints" / f"checkpoint-{STOP}")
    (resumed / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics(straight)[:STOP]))

    res = run_python(RUN, str(resumed), *TINY_SEG, "resume=latest")
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"at step {STOP}" in res.stdout
    final = f"checkpoints/checkpoint-{STEPS}"
    # model, AdamW state, augmentation and global RNGs, export: bit for bit.
    assert differing_state_files(straight / final, resumed / final) == []
    assert metrics(resumed) == metrics(straight)
    assert [r["step"] for r in metrics(resumed)] == list(range(1, STEPS + 1))
