"""data.limit: a seeded subset of N images, the same for a seed, taken before the decoded-image cache."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gan.config import DataConfig
from gan.data import build_image_dataset
from gan.data.cache import DecodedDataset
from gan.data.subset import limit_indices
from gan.errors import ConfigError, DataError
from gan.generation.config import load_gan_config


@pytest.fixture
def folder(tmp_path):
    """Ten 8x8 PNGs in two class folders; image i is filled with the gray level 20 * i."""
    root = tmp_path / "images"
    for i in range(10):
        (root / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), 20 * i, dtype=np.uint8)).save(root / f"c{i % 2}" / f"{i}.png")
    return root


def cfg(root, tmp_path, **kw) -> DataConfig:
    kw = {"cache": "none", "cache_dir": str(tmp_path / "cache"), **kw}
    return DataConfig(name="image_folder", root=str(root), resolution=8, channels=1, labels="folders", **kw)


def levels(ds) -> list[int]:
    """The gray level of each item (which file it is)."""
    return [int(round((float(ds[i][0][0, 0, 0]) + 1) * 127.5)) for i in range(len(ds))]


def test_limit_picks_the_same_files_for_a_seed_and_others_for_another_seed(folder, tmp_path):
    a = build_image_dataset(cfg(folder, tmp_path, limit=4))
    again = build_image_dataset(cfg(folder, tmp_path, limit=4))
    other = build_image_dataset(cfg(folder, tmp_path, limit=4, limit_seed=1))
    assert len(a) == 4 and a.files == again.files and a.files != other.files
    assert set(a.files) < set(build_image_dataset(cfg(folder, tmp_path)).files)
    expected = [20 * int(f.stem) for f in a.files]
    assert levels(a) == expected  # each item is the image of its file
    assert [a[i][1] for i in range(4)] == [int(f.stem) % 2 for f in a.files]  # labels follow their files
    assert a.label_names == ["c0", "c1"]
    assert a.files == sorted(a.files)  # the folder's order is kept


def test_limit_indices_are_a_seeded_sorted_subset():
    idx = limit_indices(100, 10, seed=3)
    g = torch.Generator().manual_seed(3)
    assert idx == sorted(torch.randperm(100, generator=g)[:10].tolist())
    assert idx == limit_indices(100, 10, seed=3) != limit_indices(100, 10, seed=4)
    assert limit_indices(5, 0, seed=0) == [0, 1, 2, 3, 4]


def test_limit_larger_than_the_dataset_is_a_one_line_error(folder, tmp_path):
    with pytest.raises(DataError) as err:
        build_image_dataset(cfg(folder, tmp_path, limit=11))
    assert str(err.value) == "data.limit=11 is larger than the dataset (10 images): set data.limit to at most 10, or 0 for all"


def test_negative_limit_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^config key 'data.limit': got -1, expected >= 0 \(0 = all images\)$"):
        load_gan_config(None, ["data.limit=-1"])


def test_shapes_subset_keeps_label_names_and_items():
    full = build_image_dataset(DataConfig(name="shapes", resolution=8, shapes_size=20))
    sub = build_image_dataset(DataConfig(name="shapes", resolution=8, shapes_size=20, limit=5, limit_seed=2))
    idx = limit_indices(20, 5, 2)
    assert len(sub) == 5 and sub.label_names == full.label_names == []
    assert all(torch.equal(sub[k][0], full[i][0]) for k, i in enumerate(idx))


def test_a_disk_cache_built_with_another_limit_is_not_reused(folder, tmp_path, monkeypatch):
    opened: list[str] = []
    real_open = Image.open
    monkeypatch.setattr("gan.data.images.Image.open", lambda path, *a, **k: (opened.append(str(path)), real_open(path, *a, **k))[1])
    four = build_image_dataset(cfg(folder, tmp_path, limit=4, cache="disk"))
    assert isinstance(four, DecodedDataset) and len(opened) == 4
    opened.clear()
    again = build_image_dataset(cfg(folder, tmp_path, limit=4, cache="disk"))
    assert opened == [] and levels(again) == levels(four)  # the same subset: the cache is reused
    six = build_image_dataset(cfg(folder, tmp_path, limit=6, cache="disk"))
    assert len(opened) == 6 and len(six) == 6  # rebuilt for the other subset
    plain = build_image_dataset(cfg(folder, tmp_path, limit=6))
    assert levels(six) == levels(plain) and six.label_names == ["c0", "c1"]
    assert [six[i][1] for i in range(6)] == [plain[i][1] for i in range(6)]


def test_torchvision_cache_key_names_the_limit():
    from gan.data.cache import settings_key as torchvision_key

    base = DataConfig(name="mnist", root="/data")
    assert torchvision_key(base) == torchvision_key(DataConfig(name="mnist", root="/data", limit_seed=5))  # no limit: key unchanged
    keys = {torchvision_key(DataConfig(name="mnist", root="/data", limit=n, limit_seed=s)) for n, s in [(0, 0), (10, 0), (20, 0), (10, 1)]}
    assert len(keys) == 4


def test_evaluation_compares_with_the_whole_dataset_not_the_limited_subset(tmp_path):
    from torch import nn

    from gan.config import EvalConfig
    from gan.evaluation.evaluator import Evaluator

    extractor = tmp_path / "features.pt"
    torch.jit.script(nn.Flatten()).save(str(extractor))
    ev = EvalConfig(feature_extractor="torchscript", feature_extractor_path=str(extractor), trust_torchscript=True)
    evaluator = Evaluator(ev, DataConfig(name="shapes", resolution=8, shapes_size=20, limit=5), tmp_path / "cache")
    assert len(evaluator.real_dataset()) == 20


def test_data_limit_label_fraction_and_num_real_pick_subsets_the_same_way():
    from gan.data.subset import seeded_subset
    from gan.seg.data import label_subset

    items = list(range(20))
    picked = limit_indices(20, 5, seed=7)
    assert len(picked) == 5 and picked == sorted(picked)
    assert label_subset(items, 0.25, 7).indices == picked  # 25% of 20: the same 5 images
    assert seeded_subset(items, 5, 7).indices == picked  # eval.num_real=5 with eval.seed=7
    assert seeded_subset(items, 0, 7) is items and seeded_subset(items, 20, 7) is items
