"""class_accuracy and per-class FID (eval.per_class) of conditional generators, with known answers.

The classifier is a TorchScript module (loaded with eval.trust_torchscript=true) that predicts ``round(mean of channel 0 * 10)``; the
stand-in generators of tests/class_standins.py paint ``label / 10`` there, so the accuracy is known
by construction. Per-class FID uses a tiny TorchScript feature extractor (no Inception) and a
generator that replays the real images of the requested class, so each class's FID is ~0.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from class_standins import LabelPainter, RealReplay, load_painter, write_painter_export  # noqa: E402

from gan.config import DataConfig, EvalConfig, load_config, to_dict  # noqa: E402
from gan.data import build_image_dataset  # noqa: E402
from gan.errors import ConfigError
from gan.evaluation import EvalError, Evaluator, write_result  # noqa: E402
from gan.evaluation.class_metrics import seeded_inputs  # noqa: E402
from gan.formats import GENERATOR, read_export_meta, write_json_atomic  # noqa: E402
from gan.generation.config import GANConfig  # noqa: E402
from gan.models import Generator  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated in torch 2.14 but works
CLASSES, RES = 10, 8


class RoundLogits(nn.Module):
    """[0, 1] images -> logits ``(N, classes)`` peaking at round(mean of channel 0 * 10)."""

    def __init__(self, classes: int = CLASSES) -> None:
        super().__init__()
        self.classes = classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x[:, 0].mean(dim=(1, 2)) * 10
        return -(torch.arange(self.classes, dtype=x.dtype, device=x.device)[None] - m[:, None]) ** 2


class RoundClassifier(nn.Module):
    """The same logits as a ``(features, logits)`` tuple, as benchmarks/digit_classifier.py exports."""

    def __init__(self, classes: int = CLASSES) -> None:
        super().__init__()
        self.head = RoundLogits(classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.mean(dim=(2, 3)), self.head(x)


class Moments(nn.Module):
    """A 4-d feature extractor: per-channel means and the overall standard deviation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=(2, 3)), x.flatten(1).std(dim=1, keepdim=True)], dim=1)


def script(module: nn.Module, path: Path) -> str:
    torch.jit.save(torch.jit.script(module), path)
    return str(path)


def accuracy_evaluator(tmp_path: Path, classifier: nn.Module | None = None, n: int = 40) -> Evaluator:
    path = script(classifier or RoundClassifier(), tmp_path / "clf.pt")
    cfg = EvalConfig(num_samples=n, batch_size=8, metrics=["class_accuracy"], classifier_path=path, seed=3, trust_torchscript=True)
    return Evaluator(cfg, DataConfig(name="shapes", resolution=RES), tmp_path / "cache")


def test_class_accuracy_is_one_zero_and_half(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_weights"))  # class_accuracy alone needs no Inception weights
    ev = accuracy_evaluator(tmp_path)
    right = ev.evaluate_generator(LabelPainter(num_classes=CLASSES), 4, num_classes=CLASSES, progress=False)
    assert right.values == {"class_accuracy": 1.0}
    assert right.protocol["generated"]["num_images"] == 40 and right.protocol["class_accuracy"]["classifier"].endswith("clf.pt")
    off_by_one = ev.evaluate_generator(LabelPainter(num_classes=CLASSES, offset=1), 4, num_classes=CLASSES, progress=False)
    assert off_by_one.values["class_accuracy"] == 0.0
    half = ev.evaluate_generator(LabelPainter(num_classes=CLASSES, half_wrong=True), 4, num_classes=CLASSES, progress=False)
    assert half.values["class_accuracy"] == 0.5  # every odd image of each batch of 8 has the next label


def test_class_accuracy_takes_logits_alone_and_is_seeded(tmp_path: Path):
    ev = accuracy_evaluator(tmp_path, RoundLogits(), n=30)
    shifted = LabelPainter(num_classes=CLASSES, offset=1)
    seen: list[list[int]] = []
    for _ in range(2):
        hook = shifted.register_forward_hook(lambda mod, inputs, out: seen[-1].extend(inputs[1].tolist()))
        seen.append([])
        assert ev.evaluate_generator(shifted, 4, num_classes=CLASSES, progress=False).values["class_accuracy"] == 0.0
        hook.remove()
    assert seen[0] == seen[1] and len(seen[0]) == 1 + 30  # the shape probe, then the 30 scored images
    assert seen[0][1:] == seeded_inputs(30, 4, CLASSES, 3)[1].tolist()  # labels from eval.seed (3)
    assert set(seen[0][1:]) <= set(range(CLASSES)) and len(set(seen[0][1:])) >= 8  # spread over the classes


def test_class_accuracy_errors_are_one_line(tmp_path: Path):
    with pytest.raises(EvalError, match=r"^config key 'eval.classifier_path': got '', expected a classifier file"):
        Evaluator(EvalConfig(metrics=["class_accuracy"]), DataConfig(name="shapes"), tmp_path)
    with pytest.raises(EvalError, match=r"^eval.classifier_path '.*missing.pt' does not exist"):
        Evaluator(EvalConfig(metrics=["class_accuracy"], classifier_path=str(tmp_path / "missing.pt")), DataConfig(name="shapes"), tmp_path)
    with pytest.raises(ConfigError, match="eval.classifier_path"):  # the same check when a config is loaded
        load_config(GANConfig, None, ["eval.metrics=fid,class_accuracy"])
    ev = accuracy_evaluator(tmp_path)
    with pytest.raises(EvalError, match=r"^eval.metrics: class_accuracy needs a class-conditional generator"):
        ev.evaluate_generator(Generator(nz=4, resolution=RES, ngf=8), 4, progress=False)
    with pytest.raises(EvalError, match=r"^eval.classifier_path: the classifier returned logits \(8, 10\); expected \(8, 12\)"):
        ev.evaluate_generator(LabelPainter(num_classes=12), 4, num_classes=12, progress=False)


# ---- per-class FID ------------------------------------------------------------------------------


@pytest.fixture
def labelled_folder(tmp_path: Path) -> Path:
    """3 classes x 6 random 8x8 images, each class with its own colour range."""
    gen = torch.Generator().manual_seed(0)
    for k in range(3):
        for i in range(6):
            rgb = (torch.rand(RES, RES, 3, generator=gen) * 80 + 80 * k).to(torch.uint8).numpy()
            (tmp_path / "real" / f"c{k}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb).save(tmp_path / "real" / f"c{k}" / f"{i}.png")
    return tmp_path / "real"


def per_class_setup(folder: Path, tmp_path: Path) -> tuple[Evaluator, list[torch.Tensor]]:
    data = DataConfig(name="image_folder", root=str(folder), resolution=RES, labels="folders", cache="none")
    cfg = EvalConfig(num_samples=18, batch_size=4, metrics=["fid"], per_class=True, feature_extractor="torchscript",
                     feature_extractor_path=script(Moments(), tmp_path / "moments.pt"), trust_torchscript=True)
    real = build_image_dataset(data)
    by_class = [torch.stack([real[i][0] for i in range(len(real)) if real[i][1] == k]) for k in range(3)]
    return Evaluator(cfg, data, tmp_path / "cache"), by_class


def test_per_class_fid_is_zero_for_the_real_images_of_each_class(labelled_folder: Path, tmp_path: Path):
    ev, by_class = per_class_setup(labelled_folder, tmp_path)
    result = ev.evaluate_generator(RealReplay(by_class), 4, num_classes=3, progress=False)
    per_class = {k: v for k, v in result.values.items() if k.startswith("fid_class")}
    assert sorted(per_class) == ["fid_class0", "fid_class1", "fid_class2"]
    assert all(abs(v) < 1e-6 for v in per_class.values()) and abs(result.values["intra_fid"]) < 1e-6
    assert result.values["fid"] > 1e-3  # the whole set: random labels, so not the real set
    classes = result.protocol["per_class"]["classes"]
    assert [(c["label"], c["generated"], c["real"], c["real_cache"]["hit"]) for c in classes] == [(k, 6, 6, False) for k in range(3)]
    out = json.loads(write_result(tmp_path / "r.json", result).read_text())
    assert {k for k in out["metrics"] if k.startswith("fid_class")} == {"fid_class0", "fid_class1", "fid_class2"}
    assert len(out["protocol"]["per_class"]["classes"]) == 3

    shifted = [by_class[1], by_class[2], by_class[0]]  # class k replays class k+1: far from class k's real images
    again = ev.evaluate_generator(RealReplay(shifted), 4, num_classes=3, progress=False)
    assert min(again.values[f"fid_class{k}"] for k in range(3)) > 100 * 1e-3 and again.values["intra_fid"] > 0.1
    assert all(c["real_cache"]["hit"] for c in again.protocol["per_class"]["classes"])  # real statistics cached per class


def test_per_class_fid_needs_labelled_real_data(labelled_folder: Path, tmp_path: Path):
    ev, by_class = per_class_setup(labelled_folder, tmp_path)
    ev.data.labels = "none"
    with pytest.raises(EvalError, match=r"^eval.per_class needs labelled real images, but the real data \(image_folder, 18 images\) has none"):
        ev.evaluate_generator(RealReplay(by_class), 4, num_classes=3, progress=False)
    ev2, _ = per_class_setup(labelled_folder, tmp_path)
    with pytest.raises(EvalError, match=r"^eval.per_class: class 3 has 0 real images"):
        ev2.evaluate_generator(RealReplay(by_class + [by_class[0]]), 4, num_classes=4, progress=False)


def test_evaluate_cli_prints_and_writes_class_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    import evaluate
    from gan.generation import sampling

    export = write_painter_export(tmp_path / "export", CLASSES)
    meta = read_export_meta(export, GENERATOR)
    meta["config"] = to_dict(load_config(GANConfig, None, [f"data.resolution={RES}"]))
    write_json_atomic(export / GENERATOR.meta, meta)
    monkeypatch.setattr(sampling, "load_generator", load_painter)  # the stand-in class, read by the export reader
    clf = script(RoundClassifier(), tmp_path / "clf.pt")
    code = evaluate.main([str(export), "--metrics", "class_accuracy", "--num-samples", "16", f"eval.classifier_path={clf}",
                          "eval.trust_torchscript=true", "--out", str(tmp_path / "e.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert "class_accuracy  1" in out and "protocol: 16 generated at 8px; class_accuracy by" in out
    assert json.loads((tmp_path / "e.json").read_text())["metrics"] == {"class_accuracy": 1.0}
