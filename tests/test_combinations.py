"""The combination matrix: {unconditional, conditional} x {d_norm batch, spectral} x {no attention, attention at 8}
tiny trained models, each through every user-facing path: sample.py (grid, files, interpolation), evaluate.py,
export to onnx / torchscript / safetensors / hub and reload, the demo's endpoints and init_from transfer.

Each model is trained once (2 steps, 16x16, in-process) the first time a test of its cell needs it."""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY

sys.path.insert(0, str(Path(__file__).parent))
from test_hub_conditional import script  # noqa: E402

CELLS = list(itertools.product(("uncond", "cond"), ("batch", "spectral"), ("noattn", "attn8")))
IDS = ["-".join(cell) for cell in CELLS]
TILE = 16 + 2  # a 16x16 image and its grid padding
CLASSES = ["circle", "square", "triangle"]  # the quick start's labels
FORMAT_FILES = {"onnx": "generator.onnx", "torchscript": "generator.torchscript.pt", "safetensors": "generator.safetensors", "hub": "model.safetensors"}
GEN_SCRIPTS = ("train_gan.py", "sample.py", "evaluate.py", "export.py", "train_seg.py")


def reset_accelerate() -> None:
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture(scope="module")
def scripts() -> dict:
    return {name: script(name).main for name in GEN_SCRIPTS}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, scripts: dict) -> dict:
    """``runs[cell]``: the trained run folder of that cell (trained on first use)."""
    root = tmp_path_factory.mktemp("combinations")

    class Runs(dict):
        def __missing__(self, cell: tuple[str, str, str]) -> Path:
            conditional, norm, attention = cell
            out = root / "-".join(cell)
            overrides = [*TINY, "data.shapes_size=16", "train.steps=2", "log.sample_every=100", f"model.d_norm={norm}",
                         "model.attention=" + ("[8]" if attention == "attn8" else "[]"), f"out_dir={out}"]
            if conditional == "uncond":
                overrides.append("model.num_classes=0")
            reset_accelerate()
            assert scripts["train_gan.py"](["--config", "configs/quickstart.yaml", *overrides]) == 0
            reset_accelerate()
            self[cell] = out
            return out

    return Runs()


def is_conditional(cell: tuple[str, str, str]) -> bool:
    return cell[0] == "cond"


def model_inputs(cell: tuple[str, str, str], nz: int = 8) -> dict[str, torch.Tensor]:
    inputs = {"z": torch.randn(5, nz, generator=torch.Generator().manual_seed(7))}
    if is_conditional(cell):
        inputs["label"] = torch.tensor([0, 1, 2, 2, 1])
    return inputs


@pytest.mark.parametrize("cell", CELLS, ids=IDS)
def test_sample_grid_files_and_interpolation(cell: tuple[str, str, str], runs: dict, scripts: dict, tmp_path: Path) -> None:
    run, sample = runs[cell], scripts["sample.py"]
    labels = ["--labels", "1"] if is_conditional(cell) else []
    assert sample([str(run), "--grid", str(tmp_path / "grid.png"), "--seeds", "0-3", "--device", "cpu", *labels]) == 0
    assert Image.open(tmp_path / "grid.png").size == ((4 * TILE + 2, TILE + 2) if labels else (2 * TILE + 2, 2 * TILE + 2))  # 1 label row / 2x2
    assert sample([str(run), "--out", str(tmp_path / "out"), "--num", "3", "--device", "cpu", *labels]) == 0
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    prefix = "label1-seed" if labels else "seed"
    assert files == [f"{prefix}{s:06d}.png" for s in range(3)]
    assert all(Image.open(tmp_path / "out" / f).size == (16, 16) for f in files)
    assert sample([str(run), "--interpolate", str(tmp_path / "interp.png"), "--seeds", "0-2", "--steps", "4", "--device", "cpu", *labels]) == 0
    assert Image.open(tmp_path / "interp.png").size == (4 * TILE + 2, 2 * TILE + 2)  # 2 rows (seed pairs) x 4 steps


@pytest.mark.parametrize("cell", CELLS, ids=IDS)
def test_evaluate(cell: tuple[str, str, str], runs: dict, scripts: dict, weights: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import json

    out = tmp_path / "eval.json"
    assert scripts["evaluate.py"]([str(runs[cell]), "--num-samples", "2", "--out", str(out), "--device", "cpu",
                                   f"eval.inception_weights={weights}", "eval.num_real=2", "eval.batch_size=2",
                                   "--cache-dir", str(tmp_path.parent / "fidelity_cache")]) == 0
    result = json.loads(out.read_text())
    assert np.isfinite(result["metrics"]["fid"]) and result["protocol"]["generated"]["num_images"] == 2
    assert "protocol: 2 generated vs 2 real" in capsys.readouterr().out


@pytest.mark.parametrize("cell", CELLS, ids=IDS)
def test_exports_reload_and_compute_what_the_model_does(cell: tuple[str, str, str], runs: dict, scripts: dict, tmp_path: Path) -> None:
    from gan.deploy.runtime import run_onnx, run_torchscript
    from gan.deploy.source import load_source

    run = runs[cell]
    original = load_source(run)
    inputs = model_inputs(cell)
    with torch.no_grad():
        expected = original.model(*inputs.values()).numpy()
    for fmt, name in FORMAT_FILES.items():
        out = tmp_path / fmt
        assert scripts["export.py"]([str(run), "--format", fmt, "--out", str(out)]) == 0
        if fmt in ("onnx", "torchscript"):
            got = (run_onnx if fmt == "onnx" else run_torchscript)(out / name, inputs)
            np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
        else:
            reloaded = load_source(out)
            assert reloaded.num_classes == (3 if is_conditional(cell) else 0) and (out / name).is_file()
            with torch.no_grad():
                assert np.array_equal(reloaded.model(*inputs.values()).numpy(), expected)


@pytest.mark.parametrize("cell", CELLS, ids=IDS)
def test_demo_endpoints(cell: tuple[str, str, str], runs: dict) -> None:
    from gan.deploy.demo import DemoModel

    dm = DemoModel(runs[cell] / "export")
    label = "square" if is_conditional(cell) else None
    assert dm.conditional == is_conditional(cell) and (dm.loaded.label_names == CLASSES or not label)
    grid = dm.samples(0, 4, label)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3
    nxt, more = dm.new_samples(0, 4, label)
    assert nxt == 4 and more.shape == grid.shape and not np.array_equal(more, grid)
    row = dm.interpolate(0, 1, 3, label)
    assert row.shape[2] == 3 and row.shape[1] > row.shape[0]  # one row of 3 images
    if label:  # the class is honoured: another class gives other images from the same seeds
        assert not np.array_equal(dm.samples(0, 4, "circle"), grid)


@pytest.mark.parametrize("cell", CELLS, ids=IDS)
def test_segmentation_transfer(cell: tuple[str, str, str], runs: dict, scripts: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from gan.formats import load_safetensors

    run = runs[cell]
    reset_accelerate()
    code = scripts["train_seg.py"](["--config", "configs/seg_shapes.yaml", f"init_from={run}/export", f"out_dir={tmp_path / 'seg'}",
                                    "data.resolution=16", "data.shapes_size=8", "data.shapes_val_size=4", "model.ngf=8", "model.ndf=8",
                                    "train.steps=1", "train.batch_size=4", "transfer.freeze_decoder_steps=1", "log.tracker=none",
                                    "eval.every=100"])
    reset_accelerate()
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"init_from {run}/export: loaded ") and " loaded 0 " not in line for line in lines)
    loaded = [line.split()[1:4:2] for line in lines if line.startswith("  loaded  ")]  # [ours, "generator:theirs"]
    gen = load_safetensors(run / "export" / "generator.safetensors")
    seg = load_safetensors(tmp_path / "seg" / "export" / "segmenter.safetensors")
    # The copied decoder parameters were frozen for the one step: the segmenter still holds the generator's values.
    params = [(ours, theirs.split(":", 1)[1]) for ours, theirs in loaded if ours.endswith((".weight", ".bias"))]
    assert any(".conv." in ours for ours, _ in params)
    if cell[2] == "attn8":  # the 16x16 GAN's only decoder stage has attention: its conv/norm load, the block is reported
        assert "  skipped generator:decoder.stages.0.extra.gamma: self-attention block: the segmentation decoder has none" in lines
    for ours, theirs in params:
        assert torch.equal(seg[ours], gen[theirs]), ours
