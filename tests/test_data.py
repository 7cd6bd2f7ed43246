"""The procedural shapes dataset, image folders and dataset errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gan.config import DataConfig
from gan.data import CLASS_NAMES, NO_LABEL, ImageFolder, ShapesDataset, build_image_dataset, render_shapes
from gan.errors import DataError

SHAPE_MIN_CHANNEL = 170  # every palette colour has a channel >= 200; backgrounds stay below ~140


def test_shapes_are_deterministic_per_seed_and_index():
    a, b = ShapesDataset(8, 32, seed=1), ShapesDataset(8, 32, seed=1)
    assert torch.equal(a[3], b[3])
    assert not torch.equal(a[3], a[4])
    assert not torch.equal(a[3], ShapesDataset(8, 32, seed=2)[3])


def test_shapes_masks_match_the_images():
    seen = set()
    for index in range(40):
        img, mask = render_shapes(seed=0, index=index, resolution=48)
        assert img.shape == (48, 48, 3) and img.dtype == np.uint8 and mask.shape == (48, 48)
        bright = img.max(axis=2) >= SHAPE_MIN_CHANNEL
        # Shape pixels are exactly the saturated palette pixels (noise can flip a handful at edges).
        assert (bright != (mask > 0)).mean() < 0.002
        seen |= set(np.unique(mask).tolist())
    assert seen == set(range(len(CLASS_NAMES)))


def test_shapes_dataset_items_and_masks():
    ds = ShapesDataset(4, 24, channels=3, seed=0, with_masks=True)
    img, mask = ds[0]
    assert img.shape == (3, 24, 24) and img.dtype == torch.float32
    assert -1 <= img.min() and img.max() <= 1
    assert mask.shape == (24, 24) and mask.dtype == torch.long
    gray = ShapesDataset(4, 24, channels=1, seed=0)[0]
    assert gray.shape == (1, 24, 24)
    with pytest.raises(IndexError):
        ds[4]


def make_folder(root):
    (root / "sub" / "deeper").mkdir(parents=True)
    Image.new("L", (40, 30), 128).save(root / "gray.png")
    Image.new("RGB", (20, 50), (255, 0, 0)).save(root / "sub" / "red.jpg")
    Image.new("RGBA", (64, 64), (0, 0, 255, 128)).save(root / "sub" / "deeper" / "alpha.png")
    Image.new("P", (33, 33)).save(root / "palette.gif")
    (root / "notes.txt").write_text("not an image, ignored by extension")


@pytest.mark.parametrize("channels", [1, 3])
def test_image_folder_is_recursive_and_converts_modes_and_sizes(tmp_path, channels):
    make_folder(tmp_path)
    ds = ImageFolder(tmp_path, resolution=16, channels=channels)
    assert len(ds) == 4
    for i in range(len(ds)):
        x, label = ds[i]
        assert x.shape == (channels, 16, 16) and label == NO_LABEL
        assert -1 <= x.min() and x.max() <= 1
    red, _ = ds[[p.name for p in ds.files].index("red.jpg")]
    if channels == 3:
        assert red[0].mean() > 0.9 and red[1].mean() < -0.9  # red stays red in [-1, 1]


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        ImageFolder(tmp_path / "missing", 16, 3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        ImageFolder(tmp_path / "empty", 16, 3)


def test_bad_image_is_skipped_or_named(tmp_path):
    Image.new("RGB", (8, 8), (0, 255, 0)).save(tmp_path / "a_good.png")
    (tmp_path / "b_empty.png").write_bytes(b"")
    skip = ImageFolder(tmp_path, 8, 3, on_bad_image="skip")
    with pytest.warns(UserWarning, match="b_empty.png"):
        x, _ = skip[1]  # the empty file is replaced by the next readable image
    assert torch.equal(x, skip[0][0])
    strict = ImageFolder(tmp_path, 8, 3, on_bad_image="error")
    with pytest.raises(DataError, match="cannot read image .*b_empty.png"):
        strict[1]


def test_torchvision_dataset_missing_gives_a_hint(tmp_path):
    cfg = DataConfig(name="mnist", root=str(tmp_path), download=False)
    with pytest.raises(DataError, match=r"dataset 'mnist' not found under data.root .*set data.download=true"):
        build_image_dataset(cfg)


def test_lsun_without_lmdb_names_the_missing_package(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_lmdb(name, *args, **kwargs):
        if name == "lmdb":
            raise ModuleNotFoundError("No module named 'lmdb'", name="lmdb")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lmdb)  # whether or not lmdb is installed here
    with pytest.raises(DataError, match="dataset 'lsun' needs the Python package 'lmdb': pip install lmdb"):
        build_image_dataset(DataConfig(name="lsun", root=str(tmp_path)))
