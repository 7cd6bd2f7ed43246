"""One-shape images labelled with their shape class (the conditional quick start), and the shapes cache."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan.config import DataConfig, load_config
from gan.data import build_image_dataset
from gan.data.shapes import SHAPE_NAMES, ShapesDataset, render_shapes
from gan.errors import ConfigError
from gan.generation.config import GANConfig


def test_one_shape_images_carry_their_shape_class():
    ds = ShapesDataset(12, 16, labelled=True, max_shapes=1)
    for i in range(12):
        image, label = ds[i]
        _, mask = render_shapes(0, i, 16, max_shapes=1)
        assert set(mask.flatten().tolist()) - {0} == {label + 1}  # exactly one shape, of the labelled class
        assert image.shape == (3, 16, 16)
    assert sorted({ds[i][1] for i in range(12)}) == [0, 1, 2]
    with pytest.raises(ValueError, match="max_shapes=1"):
        ShapesDataset(4, 16, labelled=True)


def test_the_gan_dataset_labels_one_shape_images_and_not_others(tmp_path):
    one = build_image_dataset(DataConfig(resolution=16, shapes_size=6, shapes_max=1, cache="none"))
    assert one.label_names == list(SHAPE_NAMES) == ["circle", "square", "triangle"]
    assert [one[i][1] for i in range(6)] == [ShapesDataset(6, 16, labelled=True, max_shapes=1)[i][1] for i in range(6)]
    many = build_image_dataset(DataConfig(resolution=16, shapes_size=6, cache="none"))
    assert many.label_names == [] and many[0][1] == -1
    with pytest.raises(ConfigError, match="'data.shapes_max': got 4, expected 1..3"):
        load_config(GANConfig, None, ["data.shapes_max=4"])


def test_shapes_are_rendered_once_into_the_cache(tmp_path, monkeypatch):
    cfg = DataConfig(resolution=16, shapes_size=5, shapes_max=1, cache="disk", cache_dir=str(tmp_path))
    first = build_image_dataset(cfg)
    reference = ShapesDataset(5, 16, labelled=True, max_shapes=1)
    for i in range(5):  # RGB shapes are uint8 images: the cache is lossless
        assert torch.equal(first[i][0], reference[i][0]) and first[i][1] == reference[i][1]
    monkeypatch.setattr("gan.data.shapes.render_shapes", lambda *a, **k: pytest.fail("rendered again"))
    again = build_image_dataset(cfg)
    assert torch.equal(again[3][0], first[3][0]) and again.label_names == ["circle", "square", "triangle"]
    other = DataConfig(resolution=16, shapes_size=5, shapes_max=2, cache="disk", cache_dir=str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="rendered again"):
        build_image_dataset(other)  # another shapes setting is another cache


def test_grayscale_shapes_are_uint8_luma_so_the_cache_is_exact(tmp_path):
    cfg = DataConfig(resolution=16, channels=1, shapes_size=3, cache="disk", cache_dir=str(tmp_path))
    cached, plain = build_image_dataset(cfg), ShapesDataset(3, 16, channels=1)
    img, _ = render_shapes(0, 1, 16)
    luma = (img.astype("float32") @ [0.299, 0.587, 0.114]).round()
    assert torch.allclose(plain[1], torch.from_numpy(luma).float()[None] / 127.5 - 1, atol=1e-6)
    assert all(torch.equal(cached[i][0], plain[i]) for i in range(3))


def test_plain_background_is_one_flat_colour_and_flat_shapes(tmp_path, monkeypatch):
    for i in range(6):
        img, mask = render_shapes(0, i, 24, max_shapes=1, background="plain")
        for kind in set(mask.flatten().tolist()):  # background (0) and the shape: each a single colour
            assert len({tuple(p) for p in img[mask == kind]}) == 1
        textured, _ = render_shapes(0, i, 24, max_shapes=1)
        assert len({tuple(p) for p in textured[mask == 0]}) > 50  # the default keeps its gradient, stripes and noise
    with pytest.raises(ValueError, match="shapes background 'dots' is not one of textured, plain"):
        render_shapes(0, 0, 16, background="dots")
    with pytest.raises(ConfigError, match="'data.shapes_background': got 'dots'"):
        load_config(GANConfig, None, ["data.shapes_background=dots"])
    cfg = DataConfig(resolution=16, shapes_size=4, shapes_max=1, shapes_background="plain", cache="disk", cache_dir=str(tmp_path))
    plain = build_image_dataset(cfg)
    assert torch.equal(plain[2][0], ShapesDataset(4, 16, max_shapes=1, labelled=True, background="plain")[2][0])
    monkeypatch.setattr("gan.data.shapes.render_shapes", lambda *a, **k: pytest.fail("rendered again"))
    with pytest.raises(pytest.fail.Exception, match="rendered again"):  # the background is part of the cache key
        build_image_dataset(DataConfig(resolution=16, shapes_size=4, shapes_max=1, cache="disk", cache_dir=str(tmp_path)))


def test_shapes_radius_sets_the_size_of_each_shape(tmp_path, monkeypatch):
    res, radius = 64, 0.5  # a circle of radius 0.5 * 32 = 16 px covers pi * 16^2 = 804 pixels when it is not clipped
    whole = 0
    for i in range(40):
        _, mask = render_shapes(0, i, res, max_shapes=1, background="plain", radius=(radius, radius))
        ys, xs = (mask == 1).nonzero()
        if len(ys) and 0 < ys.min() and ys.max() < res - 1 and 0 < xs.min() and xs.max() < res - 1:
            assert abs(len(ys) - math.pi * 16**2) < 0.03 * math.pi * 16**2
            assert xs.max() - xs.min() + 1 in (32, 33)  # the diameter, +-1 for the pixel grid
            whole += 1
    assert whole >= 3
    small = ShapesDataset(30, 32, max_shapes=1, labelled=True, background="plain", radius=(0.2, 0.2))
    big = ShapesDataset(30, 32, max_shapes=1, labelled=True, background="plain", radius=(0.8, 0.8))
    area = lambda ds: sum(int((render_shapes(0, i, 32, 1, "plain", ds.radius)[1] > 0).sum()) for i in range(30))
    assert area(big) > 8 * area(small)  # (0.8 / 0.2)^2 = 16 where nothing is clipped; big shapes are clipped more
    for bad in ("[0.5]", "[0.7,0.5]", "[0,0.5]", "[0.5,1.5]"):
        with pytest.raises(ConfigError, match=r"'data.shapes_radius': got .*, expected \[min, max\] with 0 < min <= max <= 1"):
            load_config(GANConfig, None, [f"data.shapes_radius={bad}"])
    cfg = DataConfig(resolution=16, shapes_size=4, shapes_max=1, shapes_radius=[0.5, 0.8], cache="disk", cache_dir=str(tmp_path))
    built = build_image_dataset(cfg)
    assert torch.equal(built[1][0], ShapesDataset(4, 16, max_shapes=1, labelled=True, radius=(0.5, 0.8))[1][0])
    monkeypatch.setattr("gan.data.shapes.render_shapes", lambda *a, **k: pytest.fail("rendered again"))
    with pytest.raises(pytest.fail.Exception, match="rendered again"):  # the radius is part of the cache key
        build_image_dataset(DataConfig(resolution=16, shapes_size=4, shapes_max=1, cache="disk", cache_dir=str(tmp_path)))


def test_antialiased_shapes_blend_edges_by_coverage(tmp_path, monkeypatch):
    for i in range(8):
        hard, hard_mask = render_shapes(0, i, 24, max_shapes=1, background="plain")
        soft, soft_mask = render_shapes(0, i, 24, max_shapes=1, background="plain", antialias=True)
        background, shape = hard[0, 0] if hard_mask[0, 0] == 0 else hard[-1, -1], hard[hard_mask > 0][0]
        assert (hard_mask > 0).sum() and len({tuple(p) for p in hard.reshape(-1, 3)}) == 2  # two flat colours, hard edges
        # Every antialiased pixel lies between the two colours (channel-wise, rounding aside), and some lie strictly between.
        lo, hi = np.minimum(background, shape).astype(int) - 1, np.maximum(background, shape).astype(int) + 1
        assert ((soft >= lo) & (soft <= hi)).all()
        assert len({tuple(p) for p in soft.reshape(-1, 3)}) > 2
        assert ((soft_mask > 0) != (hard_mask > 0)).mean() < 0.05  # the mask moves by at most an edge pixel here and there
        assert set(soft_mask.flatten().tolist()) == set(hard_mask.flatten().tolist())
    # The coverage read back from the colours of an unclipped circle of radius 0.5 * 8 = 4 px adds up to its area, pi * 16.
    hard, hard_mask = render_shapes(0, 1, 16, max_shapes=1, background="plain", radius=(0.5, 0.5))
    soft, _ = render_shapes(0, 1, 16, max_shapes=1, background="plain", radius=(0.5, 0.5), antialias=True)
    ys, xs = (hard_mask == 1).nonzero()
    assert len(ys) and ys.min() > 0 and xs.min() > 0 and ys.max() < 15 and xs.max() < 15  # image 1 is such a circle
    background, shape = hard[hard_mask == 0][0].astype(float), hard[hard_mask == 1][0].astype(float)
    ch = int(np.argmax(np.abs(shape - background)))
    coverage = (soft[..., ch] - background[ch]) / (shape[ch] - background[ch])
    assert coverage.min() > -0.01 and coverage.max() < 1.01 and abs(coverage.sum() - math.pi * 16) < 0.02 * math.pi * 16
    cfg = DataConfig(resolution=16, shapes_size=4, shapes_max=1, shapes_antialias=True, cache="disk", cache_dir=str(tmp_path))
    built = build_image_dataset(cfg)
    assert torch.equal(built[2][0], ShapesDataset(4, 16, max_shapes=1, labelled=True, antialias=True)[2][0])
    monkeypatch.setattr("gan.data.shapes.render_shapes", lambda *a, **k: pytest.fail("rendered again"))
    with pytest.raises(pytest.fail.Exception, match="rendered again"):  # antialias is part of the cache key
        build_image_dataset(DataConfig(resolution=16, shapes_size=4, shapes_max=1, cache="disk", cache_dir=str(tmp_path)))


def test_upright_shapes_keep_their_pose_centre_and_colour(tmp_path, monkeypatch):
    seen, turned_fills = set(), []
    for i in range(12):
        turned, turned_mask = render_shapes(0, i, 32, max_shapes=1, background="plain", radius=(0.5, 0.6))
        upright, mask = render_shapes(0, i, 32, max_shapes=1, background="plain", radius=(0.5, 0.6), rotate=False)
        kind = int(mask.max())
        seen.add(kind)
        assert kind == int(turned_mask.max())  # the same random draws: class, colour and background
        assert set(map(tuple, upright.reshape(-1, 3))) == set(map(tuple, turned.reshape(-1, 3)))
        rows, cols = (mask == kind).nonzero()
        box = mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1] == kind
        widths = box.sum(axis=1)
        if kind == 2:  # an axis-aligned square fills its bounding box; the rotated one (the default) seldom does
            assert box.all()
            t_rows, t_cols = (turned_mask == kind).nonzero()
            turned_fills.append((turned_mask[t_rows.min():t_rows.max() + 1, t_cols.min():t_cols.max() + 1] == kind).all())
        elif kind == 3:  # a triangle pointing up: rows widen from the apex down
            assert widths[0] <= 3 and widths[-1] > 3 * widths[0] and (np.diff(widths) >= 0).all()
    assert seen == {1, 2, 3} and not all(turned_fills)
    # The setting is part of the cache key.
    cfg = dict(resolution=16, shapes_size=4, shapes_max=1, cache="disk", cache_dir=str(tmp_path))
    built = build_image_dataset(DataConfig(**cfg, shapes_rotate=False))
    assert torch.equal(built[3][0], ShapesDataset(4, 16, max_shapes=1, labelled=True, rotate=False)[3][0])
    monkeypatch.setattr("gan.data.shapes.render_shapes", lambda *a, **k: pytest.fail("rendered again"))
    with pytest.raises(pytest.fail.Exception, match="rendered again"):
        build_image_dataset(DataConfig(**cfg))
