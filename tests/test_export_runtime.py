"""ONNX (onnxruntime) and TorchScript exports equal the PyTorch model; folding; mismatches and missing extras fail."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gan.deploy import runtime
from gan.deploy.fold import inference_copy
from gan.deploy.runtime import export_runtime, read_onnx_meta, read_torchscript_meta, run_onnx
from gan.deploy.source import Loaded, optional_extra
from gan.errors import ExportError
from gan.models import Discriminator
from gan.names import FUSION_MODES, UPSAMPLE_MODES

sys.path.insert(0, str(Path(__file__).parent))
from tiny_exports import ConditionalGenerator, tiny_generator, tiny_segmenter  # noqa: E402

GEN_META = {"model": {"nz": 8, "channels": 3, "resolution": 16}, "step": 7, "label_names": []}
FORMATS = ("onnx", "torchscript")


def gen(module: torch.nn.Module, **meta: object) -> Loaded:
    return Loaded(module, {**GEN_META, **meta}, "generator", Path("."))


@pytest.mark.parametrize("upsample", UPSAMPLE_MODES)
def test_folding_batchnorm_keeps_the_generator_function(upsample: str) -> None:
    model = tiny_generator(upsample)
    folded, counts = inference_copy(model)
    assert counts == {"spectral_norm": 0, "batchnorm": 2}  # projection + one decoder stage at 16x16
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    z = torch.randn(5, 8)
    torch.testing.assert_close(folded(z), model(z), atol=1e-5, rtol=0)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched


def test_folding_spectral_norm_uses_the_stored_vectors() -> None:
    torch.manual_seed(0)
    d = Discriminator(channels=3, resolution=16, ndf=8, norm="spectral")
    d.train()
    for _ in range(3):
        d(torch.randn(4, 3, 16, 16))
    d.eval()
    folded, counts = inference_copy(d)
    assert counts["spectral_norm"] == 3
    assert not any(hasattr(m, "weight_orig") for m in folded.modules())
    x = torch.randn(4, 3, 16, 16)
    torch.testing.assert_close(folded(x), d(x), atol=1e-6, rtol=0)
    # The plain weight is W / sigma with sigma = u^T W v from the stored vectors, computed by hand.
    conv = d.blocks[1].conv
    w = conv.weight_orig.reshape(conv.weight_orig.shape[0], -1)
    sigma = torch.dot(conv.weight_u, w @ conv.weight_v)
    torch.testing.assert_close(folded.blocks[1].conv.weight, conv.weight_orig / sigma)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("upsample", UPSAMPLE_MODES)
def test_generator_exports_equal_pytorch_for_every_upsample_mode(fmt: str, upsample: str, tmp_path: Path) -> None:
    model = tiny_generator(upsample)
    path, diff = export_runtime(gen(model), fmt, tmp_path)
    assert path.name == {"onnx": "generator.onnx", "torchscript": "generator.torchscript.pt"}[fmt]
    assert diff < 1e-4
    z = torch.randn(6, 8)  # a batch size never seen before: the batch axis is dynamic
    out = run_onnx(path, {"z": z}) if fmt == "onnx" else runtime.run_torchscript(path, {"z": z})
    np.testing.assert_allclose(out, model(z).numpy(), atol=1e-4)


@pytest.mark.parametrize("fmt", FORMATS)
def test_spectral_norm_generator_exports_equal_pytorch(fmt: str, tmp_path: Path) -> None:
    model = tiny_generator("transposed", spectral=True)
    path, diff = export_runtime(gen(model), fmt, tmp_path)
    meta = read_onnx_meta(path) if fmt == "onnx" else read_torchscript_meta(path)
    assert meta["folded"] == {"spectral_norm": 3, "batchnorm": 2}  # projection, decoder stage, head
    assert diff < 1e-4


@pytest.mark.parametrize("fmt", FORMATS)
def test_conditional_generator_exports_with_two_inputs(fmt: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = ConditionalGenerator(nz=8, num_classes=3, channels=3, resolution=16, ngf=8).eval()
    loaded = gen(model, model={**GEN_META["model"], "num_classes": 3}, label_names=["circle", "square", "triangle"])
    path, diff = export_runtime(loaded, fmt, tmp_path)
    assert diff < 1e-4
    meta = read_onnx_meta(path) if fmt == "onnx" else read_torchscript_meta(path)
    assert list(meta["inputs"]) == ["z", "label"] and meta["label_names"] == ["circle", "square", "triangle"]
    z = torch.randn(2, 8).repeat(2, 1)
    labels = torch.tensor([0, 0, 2, 2])
    run = run_onnx if fmt == "onnx" else runtime.run_torchscript
    out = run(path, {"z": z, "label": labels})
    np.testing.assert_allclose(out, model(z, labels).detach().numpy(), atol=1e-4)
    assert np.abs(out[0] - out[2]).max() > 1e-3  # same latent, another class: another image


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fusion", FUSION_MODES)
def test_segmenter_exports_equal_pytorch_at_a_non_square_size(fmt: str, fusion: str, tmp_path: Path) -> None:
    model = tiny_segmenter(fusion)
    loaded = Loaded(model, {"model": {"channels": 3, "resolution": 16}, "class_names": list("abcd")}, "segmenter", Path("."))
    path, diff = export_runtime(loaded, fmt, tmp_path, size=(16, 40))  # 1 x 3 tiles, padded
    assert path.name.startswith("segmenter.")
    assert diff < 1e-4
    x = torch.rand(2, 3, 16, 40) * 2 - 1
    run = run_onnx if fmt == "onnx" else runtime.run_torchscript
    out = run(path, {"image": x})
    assert out.shape == (2, 4, 16, 40)
    np.testing.assert_allclose(out, model(x).numpy(), atol=1e-4)


def test_onnx_dynamo_exporter_also_verifies(tmp_path: Path) -> None:
    path, diff = export_runtime(gen(tiny_generator("resize_conv")), "onnx", tmp_path, dynamo=True)
    assert path.is_file() and diff < 1e-4


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_mismatch_above_tolerance_is_an_error_and_removes_the_file(fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = runtime.RUNNERS[fmt]
    monkeypatch.setitem(runtime.RUNNERS, fmt, lambda path, inputs: real(path, inputs) + 0.01)
    with pytest.raises(ExportError, match=r"differs from PyTorch by 0\.01 \(max abs\) > tolerance 0\.001"):
        export_runtime(gen(tiny_generator()), fmt, tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setitem(runtime.RUNNERS, fmt, lambda path, inputs: real(path, inputs) + 0.0005)  # within tolerance
    assert export_runtime(gen(tiny_generator()), fmt, tmp_path)[1] == pytest.approx(0.0005, abs=1e-5)


def test_nan_output_is_a_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(runtime.RUNNERS, "onnx", lambda path, inputs: np.full((3, 3, 16, 16), np.nan, dtype=np.float32))
    with pytest.raises(ExportError, match="differs from PyTorch by nan"):
        export_runtime(gen(tiny_generator()), "onnx", tmp_path)


@pytest.mark.parametrize("module", ["onnx", "onnxruntime"])
def test_missing_onnx_packages_name_the_extra(module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError, as when not installed
    with pytest.raises(ExportError) as err:
        export_runtime(gen(tiny_generator()), "onnx", tmp_path)
    assert str(err.value) == f'{module} is not installed; install the optional extra: pip install -e ".[export]"'
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setitem(sys.modules, "gradio", None)
    with pytest.raises(ExportError, match=r'^gradio is not installed; install the optional extra: pip install -e "\.\[demo\]"$'):
        with optional_extra("gradio", "demo"):
            import gradio  # noqa: F401


def test_runtime_formats_are_export_formats() -> None:
    from gan.names import EXPORT_FORMATS

    assert runtime.RUNTIME_FORMATS == ("onnx", "torchscript") and set(runtime.RUNTIME_FORMATS) < set(EXPORT_FORMATS)
