"""W&B (the default tracker) with dataloader workers: the workers fork after wandb.init and must not die.

W&B installs import hooks; a forked worker that imported torchvision (datasets build their decoder at
the first item) ran them and raised wandb's ForkedError, in the decoded-data cache's build and in the
training loader of uncached data alike (configs/image_folder.yaml has num_workers: 2).
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, run_cmd


@pytest.mark.parametrize("cache", ["disk", "none"])
def test_wandb_offline_run_with_loader_workers(cache, python, tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    out = tmp_path / "run"
    done = run_cmd([python, "train_gan.py", "--config", "configs/image_folder.yaml", f"data.root={tmp_path / 'imgs'}",
                    f"out_dir={out}", f"data.cache={cache}", f"data.cache_dir={tmp_path / 'cache'}", "data.num_workers=2",
                    "data.resolution=16", "model.nz=8", "model.ngf=8", "model.ndf=8", "train.batch_size=4", "train.steps=2",
                    "log.tracker=wandb", "log.every=1"], cwd=REPO)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert (out / "export" / "generator.safetensors").is_file()
    assert list((out / "wandb").glob("offline-run-*"))  # W&B really ran
