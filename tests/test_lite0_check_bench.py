"""benchmarks/lite0_imagenet_check.py: chance rates by hand, the class lists, and its pass/fail on a tiny image set."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("lite0_imagenet_check", REPO / "benchmarks" / "lite0_imagenet_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["lite0_imagenet_check"] = module
    spec.loader.exec_module(module)
    return module


def test_chance_of_a_top5_hit(bench) -> None:
    assert bench.chance(1) == pytest.approx(0.005)  # 1 - C(999, 5) / C(1000, 5) = 1 - 995 / 1000
    assert bench.chance(2) == pytest.approx(1 - (995 * 994) / (1000 * 999))
    assert bench.chance(1000 - 4) == 1.0  # 5 picks cannot all miss 996 classes


def test_class_lists_name_the_right_imagenet_classes(bench) -> None:
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    assert list(bench.MATCHES) == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert all(len(set(v)) == len(v) and all(0 <= i < 1000 for i in v) for v in bench.MATCHES.values())
    names = {c: {info.index_to_description(i).split(",")[0] for i in v} for c, v in bench.MATCHES.items()}
    assert {"airliner", "warplane"} <= names["airplane"] and {"container ship", "liner", "fireboat"} <= names["ship"]
    assert {"sports car", "convertible", "cab"} <= names["automobile"] and {"trailer truck", "moving van", "fire engine"} <= names["truck"]
    assert len(bench.MATCHES["dog"]) == 118 and "Chihuahua" in names["dog"]


def test_noise_images_fail_the_check(bench, tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    for name in ("ship", "truck"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / name / f"{i:04d}.png")
    code = bench.main(["--data", str(tmp_path), "--classes", "ship,truck", "--per-class", "2", "--min-ratio", "30"])
    out = capsys.readouterr().out
    assert "| ship | 15: aircraft carrier, canoe, catamaran, container ship, ... | 0.073 |" in out
    assert code == 1 and "FAIL: hit rate" in out and "(needs 30x)" in out  # 30x chance is out of reach (> 1)
