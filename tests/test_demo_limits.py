"""The segmentation demo refuses big uploads before decoding them: a file-size cap at launch, a pixel cap from the header."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO

sys.path.insert(0, str(Path(__file__).parent))
from test_mask_limits import zero_png  # noqa: E402
from tiny_exports import write_seg_export  # noqa: E402

gr = pytest.importorskip("gradio")
from gan.deploy.demo import MAX_UPLOAD_PIXELS, MAX_UPLOAD_SIZE, DemoModel, build_app  # noqa: E402


@pytest.fixture(scope="module")
def seg_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoModel:
    return DemoModel(write_seg_export(tmp_path_factory.mktemp("demo") / "seg"))


def test_an_upload_over_the_pixel_limit_is_a_page_error_before_decoding(seg_demo: DemoModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = zero_png(tmp_path / "big.png", 8000)
    assert big.stat().st_size < 1_000_000 and 8000 * 8000 > MAX_UPLOAD_PIXELS

    def load(self: Image.Image):
        raise AssertionError("decoded")

    monkeypatch.setattr(Image.Image, "load", load)
    with pytest.raises(gr.Error) as err:
        seg_demo.segment(str(big))
    assert err.value.message == (
        f"image 'big.png' is too large: 8000x8000 = 64000000 pixels is over the limit of {MAX_UPLOAD_PIXELS} "
        "(the demo's upload limit); upload a smaller image"
    )
    assert err.value.print_exception is False  # shown in the page, no terminal traceback


def test_an_unreadable_upload_is_a_page_error(seg_demo: DemoModel, tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(gr.Error) as err:
        seg_demo.segment(str(tmp_path / "broken.png"))
    assert err.value.message == f"cannot read the image 'broken.png': cannot identify image file '{tmp_path / 'broken.png'}'"


def test_the_app_passes_the_upload_s_file_and_segments_it_like_its_pixels(seg_demo: DemoModel, tmp_path: Path) -> None:
    image = np.random.default_rng(2).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "in.png")
    assert np.array_equal(seg_demo.segment(str(tmp_path / "in.png")), seg_demo.segment(image))
    app = build_app(seg_demo)
    (upload,) = [b for b in app.blocks.values() if getattr(b, "elem_id", None) == "seg_input"]
    assert upload.type == "filepath" and upload.image_mode is None  # Gradio only reads the header: segment() checks the size


def test_the_demo_launches_with_an_upload_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    launched: list[dict] = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: launched.append(kwargs))
    monkeypatch.syspath_prepend(str(REPO))
    import demo

    assert demo.main([str(write_seg_export(tmp_path / "seg"))]) == 0
    assert [k["max_file_size"] for k in launched] == [MAX_UPLOAD_SIZE] == ["50mb"]
