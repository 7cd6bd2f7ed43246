"""The disk cache never deletes a cache that a live process uses: a changed folder's stale cache is
evicted only once no process holds it (in this process or another one, alive)."""
from __future__ import annotations

import gc
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO
from gan.config import DataConfig
from gan.data import build_image_dataset


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    for i in range(3):
        Image.fromarray(np.full((10, 10, 3), 40 * i, np.uint8)).save(root / f"{i}.png")
    return root


def cfg(root: Path, tmp_path: Path) -> DataConfig:
    return DataConfig(name="image_folder", root=str(root), channels=3, resolution=8, cache="disk", cache_dir=str(tmp_path / "cache"), num_workers=0)


def caches(tmp_path: Path) -> set[str]:
    """The complete caches in the cache folder, by name (``<id>-<digest>``)."""
    return {p.stem for p in (tmp_path / "cache").glob("*.json")}


def first_item(ds) -> torch.Tensor:
    return ds[0][0]


def test_a_cache_in_use_survives_a_changed_folder_and_goes_once_released(folder: Path, tmp_path: Path) -> None:
    first = build_image_dataset(cfg(folder, tmp_path))
    (a,) = caches(tmp_path)
    before = first_item(first)
    Image.new("RGB", (10, 10)).save(folder / "3.png")  # the folder changes while the first run trains
    second = build_image_dataset(cfg(folder, tmp_path))
    (b,) = caches(tmp_path) - {a}
    assert caches(tmp_path) == {a, b}  # the first run's cache is still there ...
    assert (tmp_path / "cache" / f"{a}.u8").is_file()
    worker = pickle.loads(pickle.dumps(first))  # ... and a new dataloader worker reopens it by path
    assert torch.equal(first_item(worker), before) and len(worker) == 3 and len(second) == 4

    del first, worker
    gc.collect()
    Image.new("RGB", (10, 10)).save(folder / "4.png")
    build_image_dataset(cfg(folder, tmp_path))
    (c,) = caches(tmp_path) - {a, b}
    assert caches(tmp_path) == {b, c}  # the released cache is evicted; the second run's, still held, is kept
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(a)) == []
    assert len(second) == 4 and torch.equal(first_item(pickle.loads(pickle.dumps(second))), first_item(second))


HOLD = """
import sys, time
from pathlib import Path
from gan.config import DataConfig
from gan.data import build_image_dataset
root, cache = sys.argv[1:3]
ds = build_image_dataset(DataConfig(name="image_folder", root=root, channels=3, resolution=8, cache="disk", cache_dir=cache, num_workers=0))
print(len(ds), flush=True)
time.sleep(120)
"""


def test_another_live_process_s_cache_is_kept_and_a_killed_one_s_is_evicted(folder: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(tmp_path / "cache")], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert other.stdout.readline().strip() == "3"
        (theirs,) = caches(tmp_path)
        Image.new("RGB", (10, 10)).save(folder / "3.png")
        assert len(build_image_dataset(cfg(folder, tmp_path))) == 4
        assert theirs in caches(tmp_path) and (tmp_path / "cache" / f"{theirs}.u8").is_file()
    finally:
        other.send_signal(signal.SIGKILL)  # no clean-up: the kernel drops its lock
        other.wait()
    Image.new("RGB", (10, 10)).save(folder / "4.png")
    assert len(build_image_dataset(cfg(folder, tmp_path))) == 5
    assert theirs not in caches(tmp_path) and len(caches(tmp_path)) == 1  # both stale caches went: nobody holds them


def test_another_run_s_build_in_progress_of_other_contents_is_kept(folder: Path, tmp_path: Path) -> None:
    """A run still decoding the folder as it was holds its cache before writing: a newer run leaves its file alone."""
    from gan.data.cache_locks import CacheHold

    build_image_dataset(cfg(folder, tmp_path))
    (done,) = caches(tmp_path)
    building = tmp_path / "cache" / (done.split("-")[0] + "-00000000000000000000")  # same dataset, other contents
    hold = CacheHold(building.with_suffix(".json"))
    building.with_suffix(".u8.tmp999999").write_bytes(b"in progress")
    Image.new("RGB", (10, 10)).save(folder / "3.png")
    build_image_dataset(cfg(folder, tmp_path))
    assert building.with_suffix(".u8.tmp999999").read_bytes() == b"in progress"
    assert done not in caches(tmp_path)  # the finished, released one is evicted
    hold.close()
