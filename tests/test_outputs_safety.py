"""Output safety of predict_seg.py and sample.py: refused before anything is written, one-line errors."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import predict_seg
import sample
from tiny_exports import write_gan_export, write_seg_export


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (relative name -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture(scope="module")
def seg_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_seg_export(tmp_path_factory.mktemp("seg") / "export")


@pytest.fixture(scope="module")
def gan_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gan_export(tmp_path_factory.mktemp("gan") / "export")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "D"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("00001.png", "00003.png"):
        Image.fromarray(rng.integers(0, 255, (16, 20, 3), dtype=np.uint8)).save(folder / name)
    return folder


def test_predict_into_its_own_input_folder_is_refused_and_inputs_stay(seg_export: Path, images: Path, tmp_path: Path, capsys) -> None:
    before = snapshot(images)
    os.symlink(images, tmp_path / "link")
    for out in (images, images / "sub" / "..", tmp_path / "link", images / "masks"):
        assert predict_seg.main([str(seg_export), str(images), str(out)]) == 2, out
        assert one_error_line(capsys) == f"error: output folder '{out}' is inside '{images}', which is read from; choose a path outside it"
        assert snapshot(images) == before  # nothing overwritten, nothing added (not even masks/)
    assert predict_seg.main([str(seg_export), str(images), str(tmp_path / "masks")]) == 0  # a separate folder works
    assert sorted(snapshot(tmp_path / "masks")) == ["00001.png", "00003.png"]


def test_predict_refuses_two_inputs_writing_the_same_mask(seg_export: Path, images: Path, tmp_path: Path, capsys) -> None:
    Image.open(images / "00001.png").save(images / "00001.jpg")
    out = tmp_path / "masks"
    assert predict_seg.main([str(seg_export), str(images), str(out)]) == 2
    assert one_error_line(capsys) == (
        f"error: '{images / '00001.jpg'}' and '{images / '00001.png'}' would both be written to '{out / '00001.png'}'; rename one of them")
    assert not out.exists()  # checked before writing anything


def test_predict_color_output_cannot_collide_with_another_mask(seg_export: Path, images: Path, tmp_path: Path, capsys) -> None:
    Image.open(images / "00001.png").save(images / "00003_color.png")
    out = tmp_path / "masks"
    assert predict_seg.main([str(seg_export), str(images), str(out), "--color"]) == 2
    assert f"would both be written to '{out / '00003_color.png'}'" in one_error_line(capsys)
    assert not out.exists()


def test_predict_refuses_an_output_that_is_a_file_or_overwrites_an_input(seg_export: Path, images: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "masks.png"
    target.write_bytes(b"keep me")
    assert predict_seg.main([str(seg_export), str(images), str(target)]) == 2
    assert one_error_line(capsys) == f"error: output folder '{target}' exists and is not a folder"
    assert target.read_bytes() == b"keep me"
    out = tmp_path / "out"  # the output folder holds a link to an input where a mask would go
    out.mkdir()
    os.symlink(images / "00003.png", out / "00003.png")
    before = snapshot(images)
    assert predict_seg.main([str(seg_export), str(images), str(out)]) == 2
    assert one_error_line(capsys) == f"error: writing '{out / '00003.png'}' would overwrite the input '{images / '00003.png'}'; choose another output folder"
    assert snapshot(images) == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "5-2"], "--seeds '5-2': '5-2' is not a non-negative seed or an increasing range like 0-63"),
        (["--seeds", "abc"], "--seeds 'abc': expected non-negative integers or ranges like 0-63,100"),
        (["--seeds=-3"], "--seeds '-3': expected non-negative integers or ranges like 0-63,100"),
        (["--seeds", "0-1,9-7"], "--seeds '0-1,9-7': '9-7' is not a non-negative seed or an increasing range like 0-63"),
        (["--nrow", "-2"], "--nrow -2: expected >= 1 images per grid row"),
        (["--nrow", "0"], "--nrow 0: expected >= 1 images per grid row"),
    ],
)
def test_sample_bad_seeds_and_nrow_are_one_line_errors(gan_export: Path, tmp_path: Path, capsys, args: list[str], message: str) -> None:
    assert sample.main([str(gan_export), "--grid", str(tmp_path / "g.png"), *args]) == 2
    assert one_error_line(capsys) == f"error: {message}"
    assert not (tmp_path / "g.png").exists()


def test_sample_refuses_outputs_that_would_overwrite(gan_export: Path, tmp_path: Path, capsys) -> None:
    model_files = snapshot(gan_export)
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    cases = [
        (["--out", str(existing)], f"--out '{existing}' exists and is not a folder"),
        (["--grid", str(tmp_path)], f"--grid '{tmp_path}' is a folder; expected a file name such as grid.png"),
        (["--interpolate", str(tmp_path)], f"--interpolate '{tmp_path}' is a folder; expected a file name such as grid.png"),
        (["--out", str(gan_export)], f"--out '{gan_export}' is inside '{gan_export}', which is read from; choose a path outside it"),
        (["--out", str(gan_export / "x" / "..")], f"--out '{gan_export / 'x' / '..'}' is inside '{gan_export}', which is read from; choose a path outside it"),
        (["--grid", str(gan_export / "generator.json")],
         f"--grid '{gan_export / 'generator.json'}' is inside '{gan_export}', which is read from; choose a path outside it"),
    ]
    for args, message in cases:
        assert sample.main([str(gan_export), "--seeds", "0-1", *args]) == 2, args
        assert one_error_line(capsys) == f"error: {message}"
    assert existing.read_text() == "keep me" and snapshot(gan_export) == model_files
    assert sample.main([str(gan_export), "--seeds", "0-1", "--out", str(tmp_path / "s"), "--grid", str(tmp_path / "g.png")]) == 0
    assert sorted(snapshot(tmp_path / "s")) == ["seed000000.png", "seed000001.png"] and (tmp_path / "g.png").is_file()
