"""Export folders are written in a temporary sibling and swapped in: a failed export leaves the previous
folder byte-identical and loadable; weights that do not fit their JSON are one complete line."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, run_cmd

sys.path.insert(0, str(Path(__file__).parent))
from test_hub_conditional import script  # noqa: E402
from tiny_exports import write_gan_export, write_seg_export  # noqa: E402


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def no_leftovers(folder: Path) -> bool:
    return not [p for p in folder.parent.iterdir() if p.name.startswith((".tmp-", ".old-"))]


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    return {"gan": write_gan_export(tmp_path / "gan"), "seg": write_seg_export(tmp_path / "seg"), "out": tmp_path / "out" / "my-model"}


def test_a_hub_export_failing_into_a_good_folder_leaves_it_as_it_was(sources: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    from gan.deploy import hub
    from gan.deploy.source import load_source

    export, out = script("export.py").main, sources["out"]
    assert export([str(sources["seg"]), "--format", "hub", "--out", str(out)]) == 0
    before = snapshot(out)

    def broken_card(*args: object, **kwargs: object) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr(hub, "model_card", broken_card)
    with pytest.raises(RuntimeError, match="disk full"):
        export([str(sources["gan"]), "--format", "hub", "--out", str(out)])
    assert snapshot(out) == before and no_leftovers(out)
    assert load_source(out).kind == "segmenter"
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(images / "a.png")
    assert script("predict_seg.py").main([str(out), str(images), str(tmp_path / "masks")]) == 0
    assert (tmp_path / "masks" / "a.png").is_file()


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "safetensors"])
def test_a_failed_export_keeps_the_previous_file_and_the_folder_s_other_files(fmt: str, sources: dict[str, Path],
                                                                             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from gan.deploy import runtime

    export, out = script("export.py").main, sources["out"]
    assert export([str(sources["gan"]), "--format", fmt, "--out", str(out)]) == 0
    other = "generator.torchscript.pt" if fmt == "onnx" else "generator.onnx"
    assert export([str(sources["gan"]), "--format", other.split(".", 1)[1].split(".")[0], "--out", str(out)]) == 0
    before = snapshot(out)
    assert other in before and len(before) == (3 if fmt == "safetensors" else 2)  # one export does not remove another's file
    real = runtime.check_outputs
    monkeypatch.setattr(runtime, "check_outputs", lambda fmt_, path, got, expected, atol: real(fmt_, path, got + 0.5, expected, atol))
    capsys.readouterr()
    assert export([str(sources["seg" if fmt == "safetensors" else "gan"]), "--format", fmt, "--out", str(out), "--kind",
                   "segmenter" if fmt == "safetensors" else "generator"]) == 2
    assert "differs from PyTorch by 0.5" in capsys.readouterr().err
    assert snapshot(out) == before and no_leftovers(out)


def test_weights_that_do_not_fit_their_json_are_one_line_naming_the_file_and_keys(sources: dict[str, Path], tmp_path: Path) -> None:
    from gan.deploy.source import load_source
    from gan.errors import CheckpointError

    out = sources["out"]
    assert script("export.py").main([str(sources["seg"]), "--format", "hub", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    config["ngf"] = 16  # the weights were trained with ngf 8
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as err:
        load_source(out)
    message = str(err.value)
    assert message.startswith(f"'{out / 'model.safetensors'}' does not fit the model that '{out / 'config.json'}' describes: ")
    assert "shape mismatch(es), file vs model (" in message and "(8, " in message and "\n" not in message
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(images / "a.png")
    r = run_cmd([sys.executable, "predict_seg.py", str(out), str(images), str(tmp_path / "masks")], cwd=REPO)
    assert r.returncode == 2 and r.stderr == f"error: {message}\n"


def test_an_out_folder_holding_the_source_is_refused(sources: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    parent = sources["gan"].parent
    before = sorted(p.name for p in parent.iterdir())
    assert script("export.py").main([str(sources["gan"]), "--format", "onnx", "--out", str(parent)]) == 2
    assert capsys.readouterr().err == (f"error: --out '{parent}' contains '{sources['gan']}', which is read from; it is replaced as a whole: "
                                       "choose a folder outside it\n")
    assert sorted(p.name for p in parent.iterdir()) == before
