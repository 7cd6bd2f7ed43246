"""sample.py on class-conditional exports: --labels / --per-label, label rows, label file names, one-line errors.

The conditional exports here hold a stand-in generator (tests/class_standins.py) that paints its
label into channel 0 and its latent into channel 1, read through the toolkit's export reader; so
each grid cell and file can be checked for the label and the seed it was made from.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from class_standins import load_painter, write_painter_export  # noqa: E402
from conftest import run_cmd  # noqa: E402
from tiny_exports import write_gan_export  # noqa: E402

import sample  # noqa: E402
from gan.formats import GENERATOR, write_export  # noqa: E402
from gan.generation import class_sampling as C  # noqa: E402
from gan.generation import sampling as S  # noqa: E402
from gan.models import Generator  # noqa: E402

RES, PAD = 8, 2
NAMES = ["zero", "one", "t-shirt", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"]


@pytest.fixture
def painter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 12-class painter export; sample.py loads it with the stand-in class instead of Generator."""
    monkeypatch.setattr(S, "load_generator", load_painter)
    return write_painter_export(tmp_path / "export", 12, NAMES)


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def cell(grid: np.ndarray, row: int, col: int) -> np.ndarray:
    """Centre pixel (RGB) of grid cell (row, col): cells of RES px, PAD px apart."""
    y, x = PAD + row * (RES + PAD) + RES // 2, PAD + col * (RES + PAD) + RES // 2
    return grid[y, x]


def label_pixel(k: int) -> float:
    return k / 10 * 255  # label_value(k) in [-1, 1] -> the grid's [0, 255]


def latent_pixel(seed: int) -> float:
    return (np.tanh(float(S.latents_for_seeds([seed], 4)[0, 0])) + 1) / 2 * 255


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    code = sample.main(argv)
    return code, capsys.readouterr().err


def test_parse_labels_ranges_names_and_errors():
    assert C.parse_labels("0-3,7", 10) == [0, 1, 2, 3, 7]
    assert C.parse_labels("3, 1,3", 10) == [3, 1]  # order kept, repeats dropped
    assert C.parse_labels("t-shirt,one,4", 12, NAMES) == [2, 1, 4]  # a name with '-' is a name, not a range
    with pytest.raises(ValueError, match=r"^--labels '10': '10' is out of range; expected class indices 0\.\.9$"):
        C.parse_labels("10", 10)
    with pytest.raises(ValueError, match=r"^--labels 'dog': unknown class 'dog'; expected class indices 0\.\.11 or class names \(zero, one, t-shirt"):
        C.parse_labels("dog", 12, NAMES)
    with pytest.raises(ValueError, match="'5-2' is out of range"):
        C.parse_labels("5-2", 10)
    with pytest.raises(ValueError, match="no class given"):
        C.parse_labels(" , ", 10)


def test_generate_passes_labels_aligned_with_latents_across_batches():
    from class_standins import LabelPainter

    labels = torch.tensor([3, 1, 4, 1, 5])
    images = S.generate(LabelPainter(), S.latents_for_seeds(range(5), 4), batch_size=2, labels=labels)
    assert torch.allclose(images[:, 0, 0, 0], labels.float() / 10 * 2 - 1)
    with pytest.raises(ValueError, match="do not match 5 latents"):
        S.generate(LabelPainter(), S.latents_for_seeds(range(5), 4), labels=labels[:3])


def test_grid_rows_are_labels_and_columns_share_their_seed(painter: Path, tmp_path: Path, capsys):
    code, err = run([str(painter), "--grid", str(tmp_path / "g.png"), "--labels", "0-9", "--per-label", "3"], capsys)
    assert code == 0, err
    grid = pixels(tmp_path / "g.png")
    assert grid.shape == (10 * RES + 11 * PAD, 3 * RES + 4 * PAD, 3)  # 10 label rows x 3 seed columns
    for row in range(10):
        for col in range(3):
            r, g, _ = cell(grid, row, col)
            assert abs(r - label_pixel(row)) <= 1  # row i = label i
            assert abs(g - latent_pixel(col)) <= 1  # column j = seed j, the same latent in every row
    assert len({cell(grid, 0, col)[1] for col in range(3)}) == 3  # the three seeds differ


def test_grid_with_seeds_and_class_names(painter: Path, tmp_path: Path, capsys):
    code, err = run([str(painter), "--grid", str(tmp_path / "g.png"), "--labels", "ten,t-shirt", "--seeds", "5,9"], capsys)
    assert code == 0, err
    grid = pixels(tmp_path / "g.png")
    assert grid.shape == (2 * RES + 3 * PAD, 2 * RES + 3 * PAD, 3)
    for row, label in enumerate([10, 2]):
        for col, seed in enumerate([5, 9]):
            assert abs(cell(grid, row, col)[0] - label_pixel(label)) <= 1
            assert abs(cell(grid, row, col)[1] - latent_pixel(seed)) <= 1


def test_grid_without_labels_shows_the_first_ten_classes(painter: Path, tmp_path: Path, capsys):
    code, err = run([str(painter), "--grid", str(tmp_path / "g.png")], capsys)
    assert code == 0, err
    grid = pixels(tmp_path / "g.png")
    assert grid.shape == (10 * RES + 11 * PAD, 8 * RES + 9 * PAD, 3)  # 12 classes: first 10 rows, 8 seeds each
    assert [round(cell(grid, row, 0)[0] / 25.5) for row in range(10)] == list(range(10))


def test_out_writes_num_images_per_label_named_by_label_and_seed(painter: Path, tmp_path: Path, capsys):
    out = tmp_path / "imgs"
    code, err = run([str(painter), "--out", str(out), "--num", "2", "--labels", "3,5"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "label3-seed000000.png", "label3-seed000001.png", "label5-seed000000.png", "label5-seed000001.png"]
    for label in (3, 5):
        for seed in (0, 1):
            image = pixels(out / f"label{label}-seed{seed:06d}.png")
            assert abs(image[4, 4, 0] - label_pixel(label)) <= 1 and abs(image[4, 4, 1] - latent_pixel(seed)) <= 1


def test_out_without_labels_cycles_the_classes(painter: Path, tmp_path: Path, capsys):
    out = tmp_path / "imgs"
    code, err = run([str(painter), "--out", str(out), "--seeds", "20-33"], capsys)
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    expected = sorted(f"label{i % 12}-seed{20 + i:06d}.png" for i in range(14))  # seed 32 -> class 0 again
    assert names == expected
    assert abs(pixels(out / "label1-seed000033.png")[4, 4, 0] - label_pixel(1)) <= 1


def test_interpolation_stays_within_the_class(painter: Path, tmp_path: Path, capsys):
    code, err = run([str(painter), "--interpolate", str(tmp_path / "i.png"), "--labels", "3", "--seeds", "0-2", "--steps", "4"], capsys)
    assert code == 0, err
    grid = pixels(tmp_path / "i.png")
    assert grid.shape == (2 * RES + 3 * PAD, 4 * RES + 5 * PAD, 3)  # 2 rows (seeds 0-1, 1-2) of 4 steps
    assert all(abs(cell(grid, r, c)[0] - label_pixel(3)) <= 1 for r in range(2) for c in range(4))
    assert abs(cell(grid, 0, 0)[1] - latent_pixel(0)) <= 1 and abs(cell(grid, 1, 3)[1] - latent_pixel(2)) <= 1


@pytest.mark.parametrize("argv, message", [
    (["--labels", "12"], "error: --labels '12': '12' is out of range; expected class indices 0..11 or class names (zero, one,"),
    (["--labels", "dog"], "error: --labels 'dog': unknown class 'dog'; expected class indices 0..11"),
    (["--per-label", "2", "--seeds", "0-3"], "error: --per-label 2: expected >= 1 columns, and not together with --seeds"),
    (["--per-label", "0"], "error: --per-label 0: expected >= 1 columns"),
])
def test_bad_label_flags_are_one_line_errors(painter: Path, tmp_path: Path, capsys, argv, message):
    code, err = run([str(painter), "--grid", str(tmp_path / "g.png"), *argv], capsys)
    assert code == 2 and err.startswith(message) and err.count("\n") == 1, err
    assert not (tmp_path / "g.png").exists()


def test_labels_on_an_unconditional_export_is_one_line(tmp_path: Path):
    export = write_gan_export(tmp_path / "export")
    done = run_cmd([sys.executable, "sample.py", str(export), "--grid", str(tmp_path / "g.png"), "--labels", "3"])
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: --labels/--per-label: '{export}' holds an unconditional generator") and done.stderr.count("\n") == 1
    assert not (tmp_path / "g.png").exists()


CONDITIONAL_GENERATOR = "num_classes" in inspect.signature(Generator.__init__).parameters


@pytest.mark.skipif(not CONDITIONAL_GENERATOR, reason="needs the conditional Generator(num_classes=...) of the wt-cond branch; runs once merged")
def test_cli_on_an_export_of_the_real_conditional_generator(tmp_path: Path):
    kwargs = {"nz": 8, "channels": 3, "resolution": 16, "ngf": 8, "num_classes": 3}
    torch.manual_seed(0)
    model = Generator(**kwargs).eval()
    write_export(tmp_path / "export", GENERATOR, model.state_dict(), {"model": kwargs, "label_names": ["a", "b", "c"], "step": 0})
    done = run_cmd([sys.executable, "sample.py", str(tmp_path / "export"), "--out", str(tmp_path / "o"), "--labels", "c,a", "--seeds", "4"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["label0-seed000004.png", "label2-seed000004.png"]
    expected = S.generate(model, S.latents_for_seeds([4], 8), labels=torch.tensor([2]))[0]
    got = torch.from_numpy(pixels(tmp_path / "o" / "label2-seed000004.png")).permute(2, 0, 1).float()
    assert (got - (expected + 1) / 2 * 255).abs().max() <= 1.0


def test_class_names_match_whatever_their_case():
    names = ["Circle", "square", "T-Shirt"]
    assert C.parse_labels("circle,SQUARE,t-shirt", 3, names) == [0, 1, 2]
    assert C.parse_labels("Circle", 3, names) == [0]
    with pytest.raises(ValueError, match=r"^--labels 'hexagon': unknown class 'hexagon'; expected class indices 0\.\.2 or class names \(Circle, square, T-Shirt\)$"):
        C.parse_labels("hexagon", 3, names)


def test_a_name_that_matches_several_classes_only_by_case_is_ambiguous():
    names = ["cat", "Cat", "dog"]
    assert C.parse_labels("Cat,cat", 3, names) == [1, 0]  # an exact match wins
    with pytest.raises(ValueError, match=r"^--labels 'CAT': 'CAT' matches several classes \(cat, Cat\) when case is ignored; "
                                         r"give one exactly or by index; expected class indices 0\.\.2 or class names \(cat, Cat, dog\)$"):
        C.parse_labels("CAT", 3, names)


def test_cli_labels_by_name_in_another_case(painter: Path, tmp_path: Path, capsys):
    code, err = run([str(painter), "--out", str(tmp_path / "o"), "--labels", "Three,T-SHIRT", "--seeds", "1"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["label2-seed000001.png", "label3-seed000001.png"]
