"""benchmarks/shape_classifier.py end to end at toy size: the file it writes scores class_accuracy."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from gan.data.shapes import ShapesDataset

REPO = Path(__file__).resolve().parents[1]


def test_shape_classifier_learns_the_configs_shapes_and_exports_torchscript(tmp_path: Path):
    out = tmp_path / "shapes.pt"
    cmd = [sys.executable, str(REPO / "benchmarks" / "shape_classifier.py"), "--out", str(out), "--train-images", "600",
           "--holdout", "90", "--epochs", "4", "data.resolution=16", "data.shapes_max=1", "data.shapes_background=plain",
           "data.shapes_radius=[0.7,0.9]", "data.shapes_antialias=false", "data.shapes_rotate=true"]  # whatever the quick start sets
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "held-out accuracy" in done.stdout and "(plain background)" in done.stdout
    net = torch.jit.load(str(out))
    shapes = ShapesDataset(90, 16, max_shapes=1, labelled=True, background="plain", radius=(0.7, 0.9))  # the held-out images
    x = torch.stack([shapes[i][0] for i in range(90)])
    labels = torch.tensor([shapes[i][1] for i in range(90)])
    features, logits = net((x + 1) / 2)
    assert features.shape == (90, 128) and logits.shape == (90, 3)
    printed = float(done.stdout.split("held-out accuracy ")[1].split()[0])
    assert abs(float((logits.argmax(1) == labels).float().mean()) - printed) < 0.03  # the printed figure is this file's
    assert printed > 0.5  # better than chance (1/3) after 4 epochs of 600 big shapes
