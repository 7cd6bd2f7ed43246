"""Segmentation masks obey data.max_image_pixels like images: the header's size is checked before decoding."""
from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan.errors import DataError
from gan.seg.data import SegFiles


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zero_png(path: Path, side: int) -> Path:
    """A valid all-zero 8-bit grayscale PNG of ``side x side`` pixels: a few hundred KB at most on disk."""
    rows = zlib.compressobj(1)
    body = b"".join(rows.compress(b"\0" * (side + 1)) for _ in range(side)) + rows.flush()  # filter byte + row
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def image(tmp_path: Path) -> Path:
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "image.png")
    return tmp_path / "image.png"


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any pixel decoding of a PNG fails the test (the check must come from the header alone)."""
    real = Image.Image.load

    def load(self: Image.Image):
        if self.size[0] > 1000:
            raise AssertionError(f"decoded a {self.size} image")
        return real(self)

    monkeypatch.setattr(Image.Image, "load", load)


def test_a_big_mask_is_refused_from_its_header_before_decoding(tmp_path: Path, image: Path, no_decoding: None) -> None:
    mask = zero_png(tmp_path / "mask.png", 12000)
    assert mask.stat().st_size < 1_000_000
    pairs = SegFiles([(image, mask)], 16, 1, num_classes=2, ignore_index=255, max_pixels=20 * 20)
    with pytest.raises(DataError) as err:
        pairs[0]
    assert str(err.value) == f"cannot read mask '{mask}': 12000x12000 = 144000000 pixels is over the limit of 400 (data.max_image_pixels)"


def test_a_mask_over_pil_s_own_limit_is_one_data_error_not_a_traceback(tmp_path: Path, image: Path, no_decoding: None) -> None:
    mask = zero_png(tmp_path / "bomb.png", 1)
    data = bytearray(mask.read_bytes())
    data[16:24] = struct.pack(">II", 30000, 30000)  # the header claims 30000x30000 (valid CRC)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    mask.write_bytes(bytes(data))
    with pytest.raises(DataError, match=rf"^cannot read mask '{re.escape(str(mask))}': too large to decode: Image size \(900000000 pixels\) exceeds limit"):
        SegFiles([(image, mask)], 16, 1, num_classes=2, ignore_index=255)[0]


def test_a_mask_within_the_limit_is_read(tmp_path: Path, image: Path) -> None:
    Image.fromarray(np.ones((20, 20), np.uint8)).save(tmp_path / "ok.png")
    _, mask = SegFiles([(image, tmp_path / "ok.png")], 16, 1, num_classes=2, ignore_index=255, max_pixels=20 * 20)[0]
    assert mask.shape == (16, 16) and int(mask.min()) == int(mask.max()) == 1
