"""Labels travel with every GAN dataset kind as ``(image, label)``; unconditional steps get ``c=None``."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from PIL import Image

from gan.config import DataConfig, load_config
from gan.data import NO_LABEL, ImageFolder, build_image_dataset
from gan.errors import DataError
from gan.generation.config import GANConfig
from gan.generation.task import GANTask


def png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 12), (value, value, value)).save(path)


@pytest.fixture
def class_folders(tmp_path: Path) -> Path:
    root = tmp_path / "digits"
    for name, value in [("cat/a.png", 0), ("dog/b.png", 100), ("dog/deeper/c.png", 200), ("ant/d.png", 255)]:
        png(root / name, value)
    return root


def test_shapes_yield_no_label():
    ds = build_image_dataset(DataConfig(name="shapes", resolution=16, shapes_size=3))
    image, label = ds[2]
    assert image.shape == (3, 16, 16) and label == NO_LABEL and ds.label_names == []


def test_image_folder_without_labels_yields_no_label(class_folders: Path):
    ds = build_image_dataset(DataConfig(name="image_folder", root=str(class_folders), resolution=8))
    assert [ds[i][1] for i in range(len(ds))] == [NO_LABEL] * 4 and ds.label_names == []


def test_image_folder_labels_come_from_top_level_subfolders(class_folders: Path):
    ds = build_image_dataset(DataConfig(name="image_folder", root=str(class_folders), resolution=8, labels="folders", cache="none"))
    assert ds.label_names == ["ant", "cat", "dog"]
    by_file = {ds.files[i].relative_to(class_folders).as_posix(): ds[i][1] for i in range(len(ds))}
    assert by_file == {"ant/d.png": 0, "cat/a.png": 1, "dog/b.png": 2, "dog/deeper/c.png": 2}
    white = ds[ds.files.index(class_folders / "ant" / "d.png")][0]
    assert torch.allclose(white, torch.ones_like(white))  # the image still comes with its label
    for mode in ("memory", "disk"):  # the decoded-data cache keeps labels and class names
        cached = build_image_dataset(DataConfig(name="image_folder", root=str(class_folders), resolution=8, labels="folders", cache=mode))
        assert cached.label_names == ds.label_names and [cached[i][1] for i in range(4)] == [ds[i][1] for i in range(4)]


def test_folder_labels_need_every_image_in_a_class_folder(class_folders: Path):
    png(class_folders / "loose.png", 7)
    with pytest.raises(DataError, match=r"data.labels=folders needs every image in a class subfolder .*/loose.png' is not"):
        ImageFolder(class_folders, 8, 3, labels="folders")
    with pytest.raises(DataError, match="data.labels=folders is for data.name=image_folder; 'shapes' brings its own labels"):
        build_image_dataset(DataConfig(name="shapes", labels="folders"))


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed MNIST idx file (big-endian header, uint8 data)."""
    code = 0x0801 if array.ndim == 1 else 0x0803
    path.write_bytes(struct.pack(">I", code) + b"".join(struct.pack(">I", d) for d in array.shape) + array.astype(np.uint8).tobytes())


def test_torchvision_dataset_yields_its_targets_and_class_names(tmp_path: Path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.stack([np.full((28, 28), 40 * i) for i in range(5)])
    labels = np.array([3, 1, 4, 1, 5])
    for split in ("train", "t10k"):
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
    ds = build_image_dataset(DataConfig(name="mnist", root=str(tmp_path), resolution=8, channels=1))
    assert [ds[i][1] for i in range(5)] == [3, 1, 4, 1, 5]
    assert ds.label_names[3] == "3 - three" and len(ds.label_names) == 10
    assert ds[0][0].shape == (1, 8, 8)


def test_labels_reach_the_gan_step_and_unconditional_models_get_none(class_folders: Path, tmp_path: Path):
    cfg = load_config(GANConfig, None, [
        "data.name=image_folder", f"data.root={class_folders}", "data.labels=folders", "data.resolution=8",
        "train.batch_size=4", "model.nz=4", "model.ngf=4", "model.ndf=4", "log.tracker=none", f"out_dir={tmp_path / 'run'}",
    ])
    task = GANTask(cfg, Accelerator(cpu=True))
    assert task.label_names == ["ant", "cat", "dog"]
    images, labels = next(iter(task.dataloader))
    assert images.shape == (4, 3, 8, 8) and sorted(labels.tolist()) == [0, 1, 2, 2]
    step = task.gan_step
    assert step.real_batch(iter([(images, labels)]))[1] is None  # c_dim 0: unconditional
    step.c_dim = 3
    got_images, got_labels = step.real_batch(iter([(images, labels)]))
    assert torch.equal(got_images, images) and torch.equal(got_labels, labels)
    z, c = step.latents(6)
    assert z.shape == (6, 4) and c is not None and c.shape == (6,) and 0 <= int(c.min()) and int(c.max()) < 3
