"""Segmentation data: joint transforms keep image and mask aligned; folders, CamVid, mask checks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan.errors import DataError
from gan.seg.config import SegDataConfig
from gan.seg.data import build_seg_data
from gan.seg.transforms import JointAugment, resize_pair

IGN = 255


def _coded_pair(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """An image whose pixel value encodes its class (blocks of 8 px, 4 classes) and that mask."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    mask = ((yy // 8) + 2 * (xx // 16)) % 4
    image = (mask.float() / 3 * 2 - 1).expand(3, -1, -1).clone()  # class c -> value c/3 in [-1, 1]
    return image, mask


def _decode(image: torch.Tensor) -> torch.Tensor:
    return ((image[0] + 1) / 2 * 3).round().long()


def test_exact_geometric_augmentations_move_image_and_mask_together() -> None:
    image, mask = _coded_pair()
    aug = JointAugment(["hflip", "vflip", "rot90"], 32, IGN)
    changed = 0
    for seed in range(6):
        img, msk = aug(image, mask, torch.Generator().manual_seed(seed))
        assert torch.equal(_decode(img), msk)
        changed += int(not torch.equal(msk, mask))
    assert changed > 0  # the transforms really did something


def test_resampling_augmentations_never_blend_labels_and_stay_aligned() -> None:
    image, mask = _coded_pair()
    aug = JointAugment(["crop", "rotate"], 32, IGN)
    img, msk = aug(image, mask, torch.Generator().manual_seed(3))
    assert img.shape == (3, 32, 32) and msk.shape == (32, 32) and msk.dtype == torch.long
    assert set(msk.unique().tolist()) <= {0, 1, 2, 3, IGN}  # nearest only; rotation padding -> ignore
    valid = msk != IGN
    agree = (_decode(img)[valid] == msk[valid]).float().mean()
    assert agree > 0.9  # only pixels on block borders may differ (bilinear image vs nearest mask)


def test_augmentation_is_a_pure_function_of_the_generator_state() -> None:
    image, mask = _coded_pair()
    aug = JointAugment(["hflip", "vflip", "rot90", "crop", "color"], 32, IGN)
    a = aug(image, mask, torch.Generator().manual_seed(7))
    torch.manual_seed(123)  # the global RNG must not matter
    b = aug(image, mask, torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_resize_pair_uses_nearest_for_masks() -> None:
    image, mask = _coded_pair(32)
    img, msk = resize_pair(image, mask, 12)
    assert img.shape == (3, 12, 12) and set(msk.unique().tolist()) <= {0, 1, 2, 3}


def _write_pairs(root: Path, values: list[int], stems: list[str]) -> None:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, stem in enumerate(stems):
        Image.fromarray(np.full((10, 12), 40 * i, np.uint8)).save(root / "images" / f"{stem}.png")
        m = np.full((10, 12), values[0], np.uint8)
        m[:, 6:] = values[1 + i % (len(values) - 1)]
        Image.fromarray(m).save(root / "masks" / f"{stem}.png")


def test_image_mask_folder_with_two_valued_masks_and_val_stems(tmp_path: Path) -> None:
    _write_pairs(tmp_path, [0, 255], ["a", "b", "c", "d"])
    cfg = SegDataConfig(name="pairs", root=str(tmp_path), resolution=8, channels=1, mask_values=[0, 255], val_stems=["c"])
    data = build_seg_data(cfg)
    assert len(data.train) == 3 and len(data.val) == 1 and data.class_names == ["class0", "class1"]
    image, mask = data.val[0]
    assert image.shape == (1, 8, 8) and sorted(mask.unique().tolist()) == [0, 1]
    half = build_seg_data(SegDataConfig(**{**cfg.__dict__, "label_fraction": 0.34}), seed=1)
    assert len(half.train) == 1


def test_mask_value_outside_the_classes_names_file_and_value(tmp_path: Path) -> None:
    _write_pairs(tmp_path, [0, 255, 128], ["a", "b"])
    cfg = SegDataConfig(name="pairs", root=str(tmp_path), resolution=8, channels=1, num_classes=2, val_stems=["b"])
    data = build_seg_data(cfg)
    with pytest.raises(DataError, match=r"mask '.*b\.png' holds value 128 outside the classes 0\.\.1"):
        data.val[0]


def test_image_without_mask_is_reported(tmp_path: Path) -> None:
    _write_pairs(tmp_path, [0, 1], ["a", "b"])
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "images" / "zz.png")
    with pytest.raises(DataError, match="no mask of the same stem.*'zz'"):
        build_seg_data(SegDataConfig(name="pairs", root=str(tmp_path), num_classes=2))


def test_camvid_layout_maps_the_void_label_to_ignore(tmp_path: Path) -> None:
    for images, annots in (("train", "trainannot"), ("val", "valannot")):
        (tmp_path / images).mkdir()
        (tmp_path / annots).mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / images / "f1.png")
        label = np.full((8, 8), 3, np.uint8)
        label[:2] = 11  # SegNet's void
        Image.fromarray(label).save(tmp_path / annots / "f1.png")
    data = build_seg_data(SegDataConfig(name="camvid", root=str(tmp_path), resolution=8))
    assert len(data.class_names) == 11
    _, mask = data.train[0]
    assert (mask[:2] == IGN).all() and (mask[2:] == 3).all()
