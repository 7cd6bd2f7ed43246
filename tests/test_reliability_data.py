"""Bad images (truncated JPEG, empty file, non-image) are skipped and reported once, or stop the run."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from gan.generation.train import run_training
from test_rel_utils import metrics, tiny_cfg
from train_gan import main as train_gan_main


@pytest.fixture
def folder(tmp_path):
    """6 good images and 3 bad ones: 9 files, 3 batches of 3 per epoch."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(root / ("sub" if i % 2 else ".") / f"good{i}.png")
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, format="JPEG")
    (root / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (root / "empty.png").write_bytes(b"")
    (root / "sub" / "notes.png").write_text("not an image")
    (root / "readme.txt").write_text("ignored: not an image extension")
    return root


BAD = ["truncated.jpg", "empty.png", "sub/notes.png"]


def image_folder_overrides(root, *extra):
    return ["data.name=image_folder", f"data.root={root}", "train.batch_size=3", "data.num_workers=2", *extra]


@pytest.mark.parametrize("cache", ["none", "memory"])  # read by the workers each epoch, or decoded once up front
def test_training_skips_bad_images_and_reports_each_once_across_workers(folder, tmp_path, capfd, recwarn, cache):
    out = tmp_path / "run"
    cfg = tiny_cfg(out, *image_folder_overrides(folder, "train.steps=7", f"data.cache={cache}"))  # 7 steps > 2 epochs: every file seen 2+ times
    assert run_training(cfg) == 0
    assert [m["step"] for m in metrics(out)] == list(range(1, 8))
    # A worker prints its report; the main process (which loads the first item before workers fork) warns.
    reports = capfd.readouterr().err.splitlines() + [f"warning: {w.message}" for w in recwarn]
    for name in BAD:
        path = folder / name
        assert sum(bool(re.search(rf"warning: skipping unreadable image '{re.escape(str(path))}'", r)) for r in reports) == 1, name
    assert sum("skipping unreadable image" in r for r in reports) == len(BAD)


def test_on_bad_image_error_stops_naming_the_file_with_workers(folder, tmp_path, capsys):
    rc = train_gan_main(["--config", str(REPO / "tests/defaults.yaml"), *image_folder_overrides(folder, "data.on_bad_image=error", "train.steps=4"), f"out_dir={tmp_path / 'run'}",
                         "log.tracker=none", "data.resolution=16", "model.nz=8", "model.ngf=8", "model.ndf=8"])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2
    assert re.fullmatch(rf"error: cannot read image '{re.escape(str(folder))}/(truncated\.jpg|empty\.png|sub/notes\.png)': .+"
                        r" \(set data.on_bad_image=skip to skip such files\)", last), last
