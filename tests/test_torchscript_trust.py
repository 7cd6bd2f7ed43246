"""TorchScript files run code: they load only with eval.trust_torchscript=true; state dicts of registered modules need no trust.

The crafted module writes into an existing file when called (``torch.from_file(shared=True).fill_``),
as the probe's file did; the marker file shows whether any of its code ran.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from class_standins import LabelPainter, load_painter, write_painter_export  # noqa: E402

from gan.config import DataConfig, EvalConfig, load_config, to_dict  # noqa: E402
from gan.evaluation import EvalError, Evaluator, register_module_extractor, save_module_weights  # noqa: E402
from gan.formats import GENERATOR, read_export_meta, save_safetensors_atomic, write_json_atomic  # noqa: E402
from gan.generation.config import GANConfig  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated in torch 2.14 but works
CLASSES, RES = 10, 8
UNTOUCHED = b"...."
REFUSAL = ("would be loaded as TorchScript, which runs code from the file; set eval.trust_torchscript=true only if you trust "
           "that file (or use a safetensors state dict of a registered module)")


class Overwriter(nn.Module):
    """A classifier (logits peaking at round(mean of channel 0 * 10)) that also overwrites ``marker`` when called."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker, self.classes = marker, CLASSES  # attributes: TorchScript does not read module globals

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        written = torch.from_file(self.marker, shared=True, size=4, dtype=torch.uint8).fill_(65)
        m = x[:, 0].mean(dim=(1, 2)) * 10
        logits = -(torch.arange(self.classes, dtype=x.dtype)[None] - m[:, None]) ** 2
        return logits + written.float().sum() * 0  # used, so TorchScript keeps the write


def crafted(tmp_path: Path) -> tuple[Path, Path]:
    """The crafted TorchScript file and the marker file it overwrites."""
    marker = tmp_path / "marker.bin"
    marker.write_bytes(UNTOUCHED)
    path = tmp_path / "classifier.pt"
    torch.jit.save(torch.jit.script(Overwriter(str(marker))), path)
    return path, marker


def painter_export(tmp_path: Path, stored: list[str]) -> Path:
    """A conditional stand-in export whose stored config has the ``stored`` overrides."""
    export = write_painter_export(tmp_path / "export", CLASSES)
    meta = read_export_meta(export, GENERATOR)
    meta["config"] = to_dict(load_config(GANConfig, None, [f"data.resolution={RES}", *stored]))
    write_json_atomic(export / GENERATOR.meta, meta)
    return export


def test_a_crafted_torchscript_classifier_runs_only_with_the_opt_in(tmp_path, monkeypatch, capsys):
    import evaluate
    from gan.generation import sampling

    clf, marker = crafted(tmp_path)
    # A downloaded run cannot opt in for the user: the stored eval.trust_torchscript is ignored.
    export = painter_export(tmp_path, ["eval.trust_torchscript=true", f"eval.classifier_path={clf}"])
    monkeypatch.setattr(sampling, "load_generator", load_painter)
    argv = [str(export), "--metrics", "class_accuracy", "--num-samples", "16", "--out", str(tmp_path / "e.json")]
    for given in ([], [f"eval.classifier_path={clf}"]):
        assert evaluate.main(argv + given) == 2
        err = capsys.readouterr().err
        assert err == f"error: eval.classifier_path '{clf}' {REFUSAL}\n"
        assert marker.read_bytes() == UNTOUCHED and not (tmp_path / "e.json").exists()

    assert evaluate.main(argv + [f"eval.classifier_path={clf}", "eval.trust_torchscript=true"]) == 0
    assert marker.read_bytes() == b"AAAA"  # the opt-in ran the file's code, as documented
    assert json.loads((tmp_path / "e.json").read_text())["metrics"] == {"class_accuracy": 1.0}


def test_a_crafted_torchscript_feature_extractor_runs_only_with_the_opt_in(tmp_path):
    path, marker = crafted(tmp_path)
    data = DataConfig(name="shapes", resolution=RES, shapes_size=8, cache="none")
    cfg = EvalConfig(num_samples=8, batch_size=8, feature_extractor="torchscript", feature_extractor_path=str(path))
    with pytest.raises(EvalError) as err:
        Evaluator(cfg, data, tmp_path / "cache")
    assert str(err.value) == f"eval.feature_extractor_path '{path}' {REFUSAL}"
    assert marker.read_bytes() == UNTOUCHED

    cfg.trust_torchscript = True
    images = torch.rand(8, 3, RES, RES) * 2 - 1
    Evaluator(cfg, data, tmp_path / "cache").evaluate_images(images, progress=False)
    assert marker.read_bytes() == b"AAAA"


class ScaledRound(nn.Module):
    """Logits peaking at round(scale * mean of channel 0 * 10): right only with the saved ``scale`` of 1."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x[:, 0].mean(dim=(1, 2)) * 10 * self.scale
        return -(torch.arange(CLASSES, dtype=x.dtype, device=x.device)[None] - m[:, None]) ** 2


def test_a_state_dict_classifier_of_a_registered_module_needs_no_trust(tmp_path):
    register_module_extractor("scaled-round-test", ScaledRound)
    trained = ScaledRound()
    trained.scale.data.fill_(1.0)
    path = save_module_weights(trained, tmp_path / "clf.safetensors", "scaled-round-test")
    cfg = EvalConfig(num_samples=40, batch_size=8, metrics=["class_accuracy"], classifier_path=str(path), seed=3)
    ev = Evaluator(cfg, DataConfig(name="shapes", resolution=RES), tmp_path / "cache")
    result = ev.evaluate_generator(LabelPainter(num_classes=CLASSES), 4, num_classes=CLASSES, progress=False)
    assert result.values == {"class_accuracy": 1.0}  # the file's scale was loaded (the class's own 0 scores 0.1)


def test_state_dict_classifier_errors_are_one_line(tmp_path):
    def refused(path: Path) -> str:
        cfg = EvalConfig(metrics=["class_accuracy"], classifier_path=str(path))
        with pytest.raises(EvalError) as err:
            Evaluator(cfg, DataConfig(name="shapes", resolution=RES), tmp_path / "cache")
        assert "\n" not in str(err.value)
        return str(err.value)

    bare = tmp_path / "bare.safetensors"
    save_safetensors_atomic({"scale": torch.ones(())}, bare)
    assert refused(bare) == (f"eval.classifier_path '{bare}' names no module in its metadata ('gan_toolkit_module'); "
                             "write it with gan.evaluation.save_module_weights(net, path, name)")
    unknown = tmp_path / "unknown.safetensors"
    save_safetensors_atomic({"scale": torch.ones(())}, unknown, metadata={"gan_toolkit_module": "nowhere-registered"})
    assert refused(unknown).startswith("no module is registered as 'nowhere-registered' (registered: ")
    register_module_extractor("scaled-round-test", ScaledRound)
    misfit = tmp_path / "misfit.safetensors"
    save_safetensors_atomic({"scale": torch.ones(2), "bias": torch.ones(())}, misfit, metadata={"gan_toolkit_module": "scaled-round-test"})
    assert refused(misfit) == (f"eval.classifier_path '{misfit}' does not fit module 'scaled-round-test': "
                               "2 missing, unexpected or misshapen key(s) (bias, scale)")
