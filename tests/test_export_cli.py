"""export.py from the command line: every format, the hub folder read back by sample.py / predict_seg.py,
the model card, --push failing in one line with the folder intact."""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, run_cmd

sys.path.insert(0, str(Path(__file__).parent))
from tiny_exports import write_gan_export, write_seg_export  # noqa: E402

EVAL = {"step": 0, "metrics": {"fid": 123.4, "kid": 0.05}, "protocol": {"num_generated": 64, "feature_extractor": "inception-v3-compat"}}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export_cli")
    gan = write_gan_export(root / "gan_run" / "export")
    (root / "gan_run" / "config.yaml").write_text("out_dir: gan_run\n")  # marks the run folder
    (gan / "evaluation.json").write_text(json.dumps(EVAL))  # what evaluate.py writes beside the export
    return {"root": root, "gan": root / "gan_run", "seg": write_seg_export(root / "seg_export")}


@pytest.fixture(scope="module")
def hub_dirs(sources: dict[str, Path]) -> dict[str, Path]:
    out = {}
    for name in ("gan", "seg"):
        out[name] = sources["root"] / f"{name}_hub"
        r = run_cmd([sys.executable, "export.py", str(sources[name]), "--format", "hub", "--out", str(out[name])])
        assert r.returncode == 0, r.stderr
    return out


def test_hub_folder_layout_and_model_card(hub_dirs: dict[str, Path]) -> None:
    gan = hub_dirs["gan"]
    assert sorted(p.name for p in gan.iterdir()) == ["README.md", "config.json", "model.safetensors", "sample_grid.png", "training_config.yaml"]
    config = json.loads((gan / "config.json").read_text())
    # PyTorchModelHubMixin's layout: the constructor arguments at the top level, the rest of the export JSON beside
    assert config["gan_toolkit_kind"] == "generator" and config["nz"] == 8 and "model" not in config
    assert config["gan_toolkit"]["step"] == 0 and config["gan_toolkit"]["config"]["data"]["resolution"] == 16
    card = (gan / "README.md").read_text()
    for section in ("## Architecture", "## Training data and steps", "## Evaluation", "## Samples", "## Reproduce"):
        assert section in card
    assert "| fid | 123.4 |" in card and "| kid | 0.05 |" in card and '"feature_extractor": "inception-v3-compat"' in card
    assert "![samples](sample_grid.png)" in card and Image.open(gan / "sample_grid.png").size == (8 * 18 + 2, 8 * 18 + 2)
    assert "accelerate launch train_gan.py --config training_config.yaml" in card
    assert "| nz | 8 |" in card and "4,528 parameters" in card
    seg_card = (hub_dirs["seg"] / "README.md").read_text()
    assert "accelerate launch train_seg.py --config training_config.yaml" in seg_card and "Classes: bg, a, b, c." in seg_card


def test_sample_py_reads_the_hub_folder_like_the_export(sources: dict[str, Path], hub_dirs: dict[str, Path], tmp_path: Path) -> None:
    for name, src in (("hub", hub_dirs["gan"]), ("run", sources["gan"])):
        r = run_cmd([sys.executable, "sample.py", str(src), "--grid", str(tmp_path / f"{name}.png"), "--seeds", "0-3"])
        assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "hub.png")), np.asarray(Image.open(tmp_path / "run.png")))
    r = run_cmd([sys.executable, "sample.py", str(hub_dirs["seg"]), "--grid", str(tmp_path / "x.png")])
    assert r.returncode == 2 and r.stderr.strip() == f"error: '{hub_dirs['seg']}' is a hub folder of a segmenter, not of a generator"


def test_predict_seg_reads_the_hub_folder_like_the_export(sources: dict[str, Path], hub_dirs: dict[str, Path], tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 28, 3), dtype=np.uint8)).save(images / "a.png")
    for name, src in (("hub", hub_dirs["seg"]), ("export", sources["seg"])):
        r = run_cmd([sys.executable, "predict_seg.py", str(src), str(images), str(tmp_path / name)])
        assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "hub" / "a.png")), np.asarray(Image.open(tmp_path / "export" / "a.png")))


def export_cli() -> ModuleType:
    """The repo's export.py as a module (run in-process: a subprocess per call is slow on small machines)."""
    spec = importlib.util.spec_from_file_location("export_cli", REPO / "export.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_formats_print_the_verified_difference(sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main = export_cli().main
    for fmt, name in (("onnx", "generator.onnx"), ("torchscript", "generator.torchscript.pt"), ("safetensors", "generator.safetensors")):
        assert main([str(sources["gan"]), "--format", fmt, "--out", str(tmp_path / fmt)]) == 0
        assert f"wrote {tmp_path / fmt / name}; verified against PyTorch: max abs difference" in capsys.readouterr().out
        assert (tmp_path / fmt / name).is_file()
    assert main([str(sources["seg"]), "--format", "onnx", "--size", "16x40", "--out", str(tmp_path / "seg")]) == 0
    assert "segmenter from" in capsys.readouterr().out and (tmp_path / "seg" / "segmenter.onnx").is_file()


def test_cli_refuses_bad_requests_in_one_line(sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    main = export_cli().main
    cases = [
        (["--format", "onnx", "--out", str(sources["gan"] / "export" / "x")], "is inside"),
        (["--format", "onnx", "--push", "me/x", "--out", str(tmp_path / "a")], "--push uploads a hub folder"),
        (["--format", "onnx", "--kind", "segmenter", "--out", str(tmp_path / "b")], "segmenter.safetensors"),
        (["--format", "onnx", "--atol", "0", "--out", str(tmp_path / "c")], "--atol 0.0: expected a positive tolerance"),
        (["--format", "onnx", "--size", "16x40", "--out", str(tmp_path / "e")], "only a segmenter takes images"),
    ]
    for extra, text in cases:
        assert main([str(sources["gan"]), *extra]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and text in err, err
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # not installed
    assert main([str(sources["gan"]), "--format", "onnx", "--out", str(tmp_path / "d")]) == 2
    assert capsys.readouterr().err == 'error: onnxruntime is not installed; install the optional extra: pip install -e ".[export]"\n'
    assert not (tmp_path / "d" / "generator.onnx").exists()
    assert sorted(p.name for p in (sources["gan"] / "export").iterdir()) == ["evaluation.json", "generator.json", "generator.safetensors"]


def _push_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update({"HF_HOME": str(tmp_path / "hf_home"), "PYTHONUNBUFFERED": "1", **extra})
    return env


@pytest.mark.parametrize("case", ["unreachable endpoint", "offline mode", "not logged in"])
def test_push_without_network_or_credentials_stops_in_one_line(case: str, sources: dict[str, Path], tmp_path: Path) -> None:
    import subprocess

    extra = {"unreachable endpoint": {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": "hf_fake_token"},
             "offline mode": {"HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_fake_token"}, "not logged in": {}}[case]
    out = tmp_path / "hub"
    r = subprocess.run([sys.executable, "export.py", str(sources["gan"]), "--format", "hub", "--out", str(out), "--push", "someone/tiny-gan"],
                       cwd=REPO, env=_push_env(tmp_path, **extra), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"'{out}' is intact" in lines[0], r.stderr
    expected = "not logged in to the Hugging Face Hub" if case == "not logged in" else "could not push to the Hub repo 'someone/tiny-gan'"
    assert lines[0].startswith(f"error: {expected}")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors", "sample_grid.png", "training_config.yaml"]


def test_card_finds_the_evaluation_of_a_run(tmp_path: Path) -> None:
    from gan.deploy.hub import find_evaluation, run_dir_of

    run = tmp_path / "run"
    checkpoint = run / "checkpoints" / "checkpoint-40"
    checkpoint.mkdir(parents=True)
    (run / "config.yaml").write_text("out_dir: run\n")
    assert run_dir_of(checkpoint) == run and run_dir_of(run) == run and run_dir_of(tmp_path) is None
    assert find_evaluation(checkpoint, run) is None
    (run / "eval").mkdir()
    for step, fid in ((10, 50.0), (20, 40.0), (30, 45.0)):
        (run / "eval" / f"step-{step:07d}.json").write_text(json.dumps({"step": step, "metrics": {"fid": fid}, "protocol": {}}))
    assert find_evaluation(checkpoint, run)["step"] == 30  # the newest evaluation of the run
    best = run / "best"
    best.mkdir()
    (best / "best.json").write_text(json.dumps({"metric": "fid", "value": 40.0, "step": 20, "eval_json": "eval/step-0000020.json"}))
    assert find_evaluation(best, run)["metrics"] == {"fid": 40.0}  # best/ is described by its own evaluation
    (best / "evaluation.json").write_text(json.dumps(EVAL))
    assert find_evaluation(best, run) == EVAL  # evaluate.py's result beside the export comes first
