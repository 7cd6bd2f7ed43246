"""benchmarks/shape_classifier.py end to end at toy size: the file it writes (where the README says) scores class_accuracy."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
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


def quickstart_export(run: Path) -> Path:
    """A tiny, untrained export of the quick-start config (class-conditional, shapes at 32 px) in ``run``."""
    from gan.config import load_config, to_dict
    from gan.data.shapes import SHAPE_NAMES
    from gan.formats import save_safetensors_atomic, write_json_atomic
    from gan.generation.config import GANConfig
    from gan.generation.task import generator_kwargs
    from gan.models import Generator

    cfg = load_config(GANConfig, REPO / "configs" / "quickstart.yaml", [f"out_dir={run}", "model.nz=8", "model.ngf=8", "log.tracker=none"])
    kwargs = generator_kwargs(cfg, num_classes=len(SHAPE_NAMES))
    torch.manual_seed(0)
    (run / "export").mkdir(parents=True)
    save_safetensors_atomic(Generator(**kwargs).state_dict(), run / "export" / "generator.safetensors")
    meta = {"model": kwargs, "step": 0, "config": to_dict(cfg), "label_names": list(SHAPE_NAMES)}
    write_json_atomic(run / "export" / "generator.json", meta)
    return run


def test_readme_commands_write_the_classifier_that_evaluate_class_accuracy_reads(tmp_path: Path, monkeypatch):
    """The README pair, from a fresh folder: shape_classifier.py's default file is evaluate.py's eval.classifier_path."""
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "shape_classifier.py"), "--train-images", "60", "--holdout", "30",
                           "--epochs", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrote runs/shape_classifier/shapes32.pt" in done.stdout and (tmp_path / "runs" / "shape_classifier" / "shapes32.pt").is_file()
    assert "Warning" not in done.stderr, done.stderr  # TorchScript's deprecation notices are not the user's concern

    quickstart_export(tmp_path / "runs" / "quickstart")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_weights"))  # class_accuracy alone needs no Inception weights
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.syspath_prepend(str(REPO))
    import evaluate

    argv = ["runs/quickstart", "eval.metrics=class_accuracy", "eval.classifier_path=runs/shape_classifier/shapes32.pt", "eval.num_samples=30",
            "eval.trust_torchscript=true"]
    assert evaluate.main(argv + ["--device", "cpu"]) == 0
    result = json.loads((tmp_path / "runs" / "quickstart" / "export" / "evaluation.json").read_text())
    assert 0.0 <= result["metrics"]["class_accuracy"] <= 1.0
    assert result["protocol"]["class_accuracy"]["classifier"].endswith("runs/shape_classifier/shapes32.pt")
    assert result["protocol"]["generated"]["num_images"] == 30


@pytest.mark.parametrize("args, message", [
    (["--train-images", "0"], "error: --train-images: got 0, expected >= 1"),
    (["data.shapes_max=7"], "error: config key 'data.shapes_max': got 7, expected 1..3"),
    (["--config", str(REPO / "configs" / "mnist_cond.yaml")],
     f"error: {REPO / 'configs' / 'mnist_cond.yaml'}: data.name is 'image_folder'; expected shapes (this classifier learns the embedded shapes)"),
])
def test_bad_flags_and_config_values_are_one_line(tmp_path: Path, args: list[str], message: str):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "shape_classifier.py"), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert (done.returncode, done.stderr.strip()) == (2, message)
    assert list(tmp_path.iterdir()) == []  # nothing written
