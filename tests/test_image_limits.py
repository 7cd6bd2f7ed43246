"""Image decoding: size limits from the header (decompression bombs, 1,000,000 x 1 PNGs) and 16-bit scaling."""
from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from gan.config import DataConfig, load_config
from gan.data import ImageFolder, build_image_dataset
from gan.data.decode import ImageTooLarge, open_image
from gan.errors import ConfigError, DataError
from gan.generation.config import GANConfig
from gan.seg.config import load_seg_config
from gan.seg.data import SegFiles
from gan.seg.predict import read_image
from tiny_exports import write_seg_export


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A ~70-byte PNG whose IHDR claims ``width x height`` (patched header, valid CRC)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


BAD = {
    "bomb.png": (20000, 20000, "too large to decode: Image size (400000000 pixels) exceeds limit of"),  # PIL's own check at open
    "big.png": (10000, 10000, "10000x10000 = 100000000 pixels is over the limit of 89478485 (data.max_image_pixels)"),
    "wide.png": (1_000_000, 1, "1000000x1 pixels: one side is more than 64 times the other"),
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """5 good 20x24 images and the 3 oversized headers: 8 files."""
    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(root / f"good{i}.png")
    for name, (w, h, _) in BAD.items():
        png_claiming(root / name, w, h)
    return root


def check_reports(text: str, root: Path) -> None:
    for name, (_, _, reason) in BAD.items():
        hits = re.findall(rf"skipping unreadable image '{re.escape(str(root / name))}': {re.escape(reason)}", text)
        assert len(hits) == 1, (name, text)
    assert text.count("skipping unreadable image") == len(BAD)


@pytest.mark.parametrize("workers", [0, 2])
def test_oversized_images_are_skipped_and_reported_once(folder: Path, capfd: pytest.CaptureFixture, workers: int) -> None:
    ds = ImageFolder(folder, 16, 3)
    loader = DataLoader(ds, batch_size=4, num_workers=workers)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = [b for _ in range(2) for b in loader]  # two epochs: every file met twice
    assert [tuple(b[0].shape) for b in batches] == [(4, 3, 16, 16)] * 4  # bad files replaced by good ones
    reports = "\n".join(str(w.message) for w in caught) + "\n" + capfd.readouterr().err  # main process / workers
    check_reports(reports, folder)


def test_on_bad_image_error_names_the_oversized_file(folder: Path) -> None:
    ds = ImageFolder(folder, 16, 3, on_bad_image="error")
    with pytest.raises(DataError) as err:
        ds[sorted(ds.files).index(folder / "wide.png")]
    assert str(err.value) == (f"cannot read image '{folder / 'wide.png'}': 1000000x1 pixels: one side is more than 64 times the other"
                              " (set data.on_bad_image=skip to skip such files)")


def test_a_real_million_by_one_png_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "line.png"
    Image.new("L", (1_000_000, 1), 128).save(path)  # 1 KB on disk
    assert path.stat().st_size < 10_000
    with pytest.raises(ImageTooLarge, match=r"^1000000x1 pixels: one side is more than 64 times the other$"):
        open_image(path, 3)


def test_max_image_pixels_is_configurable_and_checked(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    Image.new("RGB", (24, 20)).save(root / "a.png")  # 480 pixels
    assert open_image(root / "a.png", 3, max_pixels=480).size == (24, 20)
    cfg = load_config(GANConfig, None, ["data.name=image_folder", f"data.root={root}", "data.on_bad_image=error", "data.max_image_pixels=479"])
    with pytest.raises(DataError, match=re.escape("24x20 = 480 pixels is over the limit of 479 (data.max_image_pixels)")):
        build_image_dataset(cfg.data)[0]
    for load in (lambda o: load_config(GANConfig, None, o), lambda o: load_seg_config(None, o)):
        with pytest.raises(ConfigError, match=re.escape("config key 'data.max_image_pixels': got 0, expected >= 1")):
            load(["data.max_image_pixels=0"])
    assert DataConfig().max_image_pixels == 89_478_485


def test_predict_seg_on_a_bomb_is_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import predict_seg

    export = write_seg_export(tmp_path / "export")
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (16, 16)).save(images / "a.png")
    bomb = png_claiming(images / "bomb.png", 20000, 20000)
    assert predict_seg.main([str(export), str(images), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot read image '{bomb}': too large to decode: Image size (400000000 pixels)"), err
    assert (tmp_path / "out" / "a.png").is_file()  # what was written before stays


# ---- 16-bit and float images ------------------------------------------------------------------------
# Left half 16384, right half 49152 of 65535: 8-bit 63.75 -> 64 and 191.25 -> 191, i.e. -0.498 and +0.498
# in [-1, 1] (64 / 127.5 - 1). Clipping by convert("L") would give +1.0 for both halves.
LEFT, RIGHT = 64 / 127.5 - 1, 191 / 127.5 - 1


def halves(values: tuple, dtype) -> np.ndarray:
    arr = np.full((16, 16), values[0], dtype=dtype)
    arr[:, 8:] = values[1]
    return arr


def check_halves(image: torch.Tensor) -> None:
    assert torch.allclose(image[..., :8], torch.full_like(image[..., :8], LEFT), atol=1e-6), image.unique()
    assert torch.allclose(image[..., 8:], torch.full_like(image[..., 8:], RIGHT), atol=1e-6), image.unique()


@pytest.fixture
def png16(tmp_path: Path) -> Path:
    path = tmp_path / "images" / "x.png"
    path.parent.mkdir()
    Image.fromarray(halves((16384, 49152), np.uint16)).save(path)
    assert Image.open(path).mode == "I;16"
    return path


def test_16bit_png_in_image_folder(png16: Path) -> None:
    image, _ = ImageFolder(png16.parent, 16, 3)[0]
    assert image.shape == (3, 16, 16)
    check_halves(image)


def test_16bit_png_in_segmentation_pairs_keeps_raw_mask_labels(png16: Path, tmp_path: Path) -> None:
    mask_path = tmp_path / "mask.png"
    Image.fromarray(halves((0, 1), np.uint16)).save(mask_path)  # 16-bit mask: labels 0 and 1, not rescaled
    image, mask = SegFiles([(png16, mask_path)], 16, 1, num_classes=2, ignore_index=255)[0]
    check_halves(image)
    assert torch.equal(mask, torch.from_numpy(halves((0, 1), np.int64)))


def test_16bit_png_in_predict_read_image(png16: Path) -> None:
    image = read_image(png16, 1)
    assert image.shape == (1, 1, 16, 16)
    check_halves(image)


def test_other_high_depth_modes_are_scaled_by_their_range(tmp_path: Path) -> None:
    pgm = tmp_path / "x.pgm"  # 16-bit PGM: PIL mode "I"
    pgm.write_bytes(b"P5\n16 16\n65535\n" + halves((16384, 49152), ">u2").tobytes())
    tif = tmp_path / "x.tif"  # float TIFF in [0, 1]: mode "F"
    Image.fromarray(halves((0.25, 0.75), np.float32)).save(tif)
    for path, mode in ((pgm, "I"), (tif, "F")):
        assert Image.open(path).mode == mode
        arr = np.asarray(open_image(path, 1))
        assert arr.dtype == np.uint8 and (arr[:, :8] == 64).all() and (arr[:, 8:] == 191).all(), (mode, np.unique(arr))


def test_max_image_pixels_may_change_on_resume(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from test_rel_utils import train

    out = tmp_path / "run"
    assert train(out, "train.steps=2", "checkpoint.every=2") == 0
    capsys.readouterr()
    assert train(out, "train.steps=3", "checkpoint.every=2", "resume=latest", "data.max_image_pixels=1000") == 0
    assert "resuming with changed settings: data.max_image_pixels, resume, train.steps" in capsys.readouterr().out
