"""Hub folders of the quick start's class-conditional generator: the card's per-class grid, sample.py and
reloads from the folder, the card's Hub metadata per kind, and export.py --help without torch."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
import yaml
from PIL import Image

from conftest import REPO, TINY, offline_env

sys.path.insert(0, str(Path(__file__).parent))
from tiny_exports import write_gan_export, write_seg_export  # noqa: E402

TILE = 16 + 2  # a 16x16 image and its grid padding


def script(name: str) -> ModuleType:
    """A script of the repo as a module (its main() run in-process: far faster than a subprocess)."""
    spec = importlib.util.spec_from_file_location(name.replace(".py", "_script"), REPO / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def front_matter(card: Path) -> dict:
    text = card.read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's quick start (circle/square/triangle, num_classes auto), tiny and 2 steps."""
    from accelerate.state import AcceleratorState

    out = tmp_path_factory.mktemp("quickstart") / "run"
    assert script("train_gan.py").main(["--config", "configs/quickstart.yaml", *TINY, "train.steps=2", f"out_dir={out}"]) == 0
    AcceleratorState._reset_state(reset_partial_state=True)
    return out


@pytest.fixture(scope="module")
def conditional_hub(conditional_run: Path) -> Path:
    hub = conditional_run.parent / "my-gan"
    assert script("export.py").main([str(conditional_run), "--format", "hub", "--out", str(hub)]) == 0
    return hub


def test_a_conditional_run_exports_to_a_hub_folder_with_one_grid_row_per_class(conditional_hub: Path) -> None:
    assert sorted(p.name for p in conditional_hub.iterdir()) == ["README.md", "config.json", "model.safetensors", "sample_grid.png",
                                                                  "training_config.yaml"]
    assert Image.open(conditional_hub / "sample_grid.png").size == (8 * TILE + 2, 3 * TILE + 2)  # 8 seeds x circle, square, triangle
    card = (conditional_hub / "README.md").read_text()
    assert "Classes: circle, square, triangle." in card and "One row per class (the first 10), one column per seed." in card
    assert "python sample.py THIS_MODEL --grid grid.png --labels 0-2 --per-label 8" in card
    assert not list(conditional_hub.parent.glob(".tmp-*")) and not list(conditional_hub.parent.glob(".old-*"))


def test_sample_py_and_reloads_work_from_the_conditional_hub_folder(conditional_run: Path, conditional_hub: Path, tmp_path: Path) -> None:
    from gan.deploy.source import load_source

    sample = script("sample.py").main
    assert sample([str(conditional_hub), "--grid", str(tmp_path / "g.png"), "--labels", "1,2", "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "g.png").size == (8 * TILE + 2, 2 * TILE + 2)
    assert sample([str(conditional_hub), "--out", str(tmp_path / "out"), "--labels", "square", "--num", "2", "--device", "cpu"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["label1-seed000000.png", "label1-seed000001.png"]
    hub, run = load_source(conditional_hub), load_source(conditional_run)
    assert hub.kind == "generator" and hub.num_classes == 3 and hub.label_names == ["circle", "square", "triangle"]
    z, labels = torch.randn(6, hub.meta["model"]["nz"]), torch.arange(6) % 3
    assert torch.equal(hub.model(z, labels), run.model(z, labels))


def test_card_metadata_per_kind(conditional_hub: Path, tmp_path: Path) -> None:
    meta = front_matter(conditional_hub / "README.md")
    assert "pipeline_tag" not in meta and "class-conditional-image-generation" in meta["tags"]
    assert meta["license"] == "mit" and "datasets" not in meta  # the embedded shapes are no Hub dataset
    export = script("export.py").main
    gan, seg = write_gan_export(tmp_path / "gan"), write_seg_export(tmp_path / "seg")
    assert export([str(gan), "--format", "hub", "--out", str(tmp_path / "gan_hub"), "--license", "apache-2.0"]) == 0
    meta = front_matter(tmp_path / "gan_hub" / "README.md")
    assert meta["pipeline_tag"] == "unconditional-image-generation" and meta["license"] == "apache-2.0"
    assert "class-conditional-image-generation" not in meta["tags"]
    assert export([str(seg), "--format", "hub", "--out", str(tmp_path / "seg_hub")]) == 0
    assert front_matter(tmp_path / "seg_hub" / "README.md")["pipeline_tag"] == "image-segmentation"


def test_card_names_a_public_training_dataset_only() -> None:
    from gan.deploy.card import HUB_DATASETS, card_data
    from gan.deploy.source import Loaded
    from gan.models import Generator
    from gan.names import IMAGE_DATASETS, SEG_DATASETS

    assert set(HUB_DATASETS) <= set(IMAGE_DATASETS) | set(SEG_DATASETS)
    model = Generator(nz=8, resolution=16, ngf=8)

    def datasets(name: str) -> list[str] | None:
        meta = {"model": {"nz": 8}, "config": {"data": {"name": name, "root": "private/photos"}}}
        return card_data(Loaded(model, meta, "generator", Path(".")), None, "mit").datasets

    assert datasets("mnist") == ["ylecun/mnist"] and datasets("cifar10") == ["uoft-cs/cifar10"]
    assert datasets("image_folder") is None and datasets("shapes") is None


def test_a_bad_license_is_refused_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        script("export.py").main([str(tmp_path), "--format", "hub", "--out", str(tmp_path / "hub"), "--license", "My License"])
    assert stop.value.code == 2 and "--license 'My License': expected a Hugging Face Hub license identifier" in capsys.readouterr().err
    assert not (tmp_path / "hub").exists()


def test_export_help_imports_no_torch() -> None:
    r = subprocess.run([sys.executable, "-X", "importtime", "export.py", "--help"], cwd=REPO, env=offline_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "--license" in r.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "gan.cli" in imported and "torch" not in imported and "numpy" not in imported
