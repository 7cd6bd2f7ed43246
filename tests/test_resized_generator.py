"""Generators whose resolution is not 4*2^k (24, 28, 48): made at the next such size and resized down.

The antialiased bilinear resize has no bfloat16 CPU kernel and no ONNX export; it is now two matrix
products with the same weights, so such sizes train under bf16, sample and export.
"""
from __future__ import annotations

import importlib.util
import sys

import pytest
import torch
import torch.nn.functional as F

from conftest import REPO, TINY
from gan.config import load_config
from gan.generation.config import GANConfig
from gan.generation.train import run_training
from gan.models import Generator


@pytest.mark.parametrize("resolution", [24, 28, 48])
def test_resize_matches_the_antialiased_interpolate_and_runs_under_bf16_autocast(resolution):
    g = Generator(nz=8, channels=3, resolution=resolution, ngf=4).eval()
    z = torch.randn(3, 8)
    with torch.no_grad():
        made = g.head(g.decoder(g.project(z[:, :, None, None])))
        reference = F.interpolate(made, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
        assert torch.allclose(g(z), reference, atol=1e-6)  # the same images as before
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = g(z)
    assert out.shape == (3, 3, resolution, resolution) and out.dtype == torch.bfloat16
    work = 2 ** (resolution - 1).bit_length()  # the size it is made at (the next 4*2^k)
    assert set(g.state_dict()) == set(Generator(nz=8, channels=3, resolution=work, ngf=4).state_dict())  # checkpoints unchanged


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_cli", REPO / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_24px_trains_under_bf16_then_samples_and_exports(tmp_path, capsys):
    overrides = [*TINY, "data.resolution=24", f"out_dir={tmp_path / 'run'}", "train.steps=2", "train.mixed_precision=bf16"]
    assert run_training(load_config(GANConfig, None, overrides)) == 0
    capsys.readouterr()
    sys.path.insert(0, str(REPO))
    try:
        assert _script("sample").main([str(tmp_path / "run"), "--out", str(tmp_path / "png"), "--num", "2", "--device", "cpu"]) == 0
    finally:
        sys.path.remove(str(REPO))
    from PIL import Image

    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["seed000000.png", "seed000001.png"]
    assert Image.open(tmp_path / "png" / "seed000000.png").size == (24, 24)
    export = _script("export").main
    for fmt, name in (("onnx", "generator.onnx"), ("torchscript", "generator.torchscript.pt")):
        assert export([str(tmp_path / "run"), "--format", fmt, "--out", str(tmp_path / fmt)]) == 0
        assert f"wrote {tmp_path / fmt / name}; verified against PyTorch" in capsys.readouterr().out
