"""End to end: a tiny segmentation run on the shapes data through the shared Trainer, then predict."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan.data.shapes import render_shapes

TINY_SEG = [
    "data.name=shapes", "data.resolution=16", "data.shapes_size=256", "data.shapes_val_size=32", "model.ngf=8",
    "model.ndf=8", "model.max_channels=32", "train.batch_size=16", "train.steps=30", "optim.lr=0.005",
    "eval.every=10", "eval.overlay_images=2", "log.tracker=none", "log.every=10",
    "checkpoint.every=30", "data.augment=hflip",
]


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gan.seg.config import load_seg_config
    from gan.seg.train import run_seg_training

    out = tmp_path_factory.mktemp("seg")
    assert run_seg_training(load_seg_config(None, [f"out_dir={out}", *TINY_SEG])) == 0
    return out


def test_tiny_run_improves_miou_and_writes_its_outputs(seg_run: Path) -> None:
    evals = [json.loads(line) for line in (seg_run / "eval.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [10, 20, 30]
    assert evals[-1]["miou"] > evals[0]["miou"] + 0.03, [e["miou"] for e in evals]
    assert len(evals[-1]["iou"]) == 4
    best = json.loads((seg_run / "best" / "segmenter.json").read_text())
    assert best["metrics"]["miou"] == max(e["miou"] for e in evals)
    assert (seg_run / "overlays" / "step-0000030.png").is_file() and (seg_run / "overlays" / "latest.png").is_file()
    assert (seg_run / "export" / "segmenter.safetensors").is_file()
    assert (seg_run / "checkpoints" / "checkpoint-30" / "segmenter.safetensors").is_file()
    assert {"loss", "ce"} <= set(json.loads((seg_run / "metrics.jsonl").read_text().splitlines()[0]))


def test_predict_writes_one_mask_per_image_at_its_own_size(seg_run: Path, tmp_path: Path) -> None:
    import predict_seg

    images = tmp_path / "images"
    images.mkdir()
    for i, size in enumerate((16, 24)):
        Image.fromarray(render_shapes(9, i, size)[0]).save(images / f"img{i}.png")
    out = tmp_path / "masks"
    assert predict_seg.main([str(seg_run), str(images), str(out), "--color"]) == 0
    for i, size in enumerate((16, 24)):
        mask = np.array(Image.open(out / f"img{i}.png"))
        assert mask.shape == (size, size) and set(np.unique(mask)) <= {0, 1, 2, 3}
        assert (out / f"img{i}_color.png").is_file()
    assert predict_seg.main([str(tmp_path), str(images), str(out)]) == 2  # no export there: one-line error


def test_bad_config_is_one_line_error(capsys: pytest.CaptureFixture) -> None:
    import train_seg

    assert train_seg.main(["data.augment=[hflip,zoom]", "--dry-run"]) == 2
    assert "config key 'data.augment': got 'zoom', expected names among" in capsys.readouterr().err
