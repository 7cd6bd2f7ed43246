"""``export.py --format space``: a self-contained Hugging Face Space folder that serves the demo with ``python app.py``."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, offline_env

sys.path.insert(0, str(Path(__file__).parent))
from demo_server import free_port, serve  # noqa: E402
from tiny_exports import write_gan_export, write_seg_export  # noqa: E402

gr = pytest.importorskip("gradio")
from gan.deploy import space  # noqa: E402
from gan.deploy.demo import DemoModel, build_app  # noqa: E402
from gan.deploy.source import load_source  # noqa: E402
from gan.errors import ExportError  # noqa: E402


def export_space(source: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "export.py", str(source), "--format", "space", "--out", str(out)], cwd=REPO, env=offline_env(),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def gan_space(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("space")
    export = write_gan_export(root / "gan")
    done = export_space(export, root / "gan-space")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"wrote {root / 'gan-space'} (app.py, requirements.txt, README.md, model/, gan/)")
    return export, root / "gan-space"


def test_space_folder_holds_app_requirements_card_model_and_package(gan_space: tuple[Path, Path]) -> None:
    from huggingface_hub import SpaceCard

    _, folder = gan_space
    assert sorted(p.name for p in folder.iterdir()) == [".gitattributes", "README.md", "app.py", "gan", "model", "requirements.txt"]
    card = SpaceCard.load(folder / "README.md")
    assert (card.data.sdk, card.data.app_file, card.data.sdk_version, card.data.license) == ("gradio", "app.py", gr.__version__, "mit")
    # the demo's packages, with the very specifiers of pyproject.toml
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["demo"]
    lines = (folder / "requirements.txt").read_text().splitlines()
    assert [line.split("=")[0].split(">")[0] for line in lines] == ["torch", "numpy", "pillow", "safetensors", "pyyaml", "matplotlib", "huggingface_hub", "gradio"]
    assert set(lines) <= set(declared) and "torch==2.14.1" in lines and "gradio>=5.0,<7" in lines
    # the toolkit's sources, .py files only, as in the checkout
    copied = sorted(str(p.relative_to(folder / "gan")) for p in (folder / "gan").rglob("*") if p.is_file())
    assert copied == sorted(str(p.relative_to(REPO / "gan")) for p in (REPO / "gan").rglob("*.py"))
    assert {"config.json", "model.safetensors", "README.md"} <= {p.name for p in (folder / "model").iterdir()}


def test_space_app_serves_and_answers_gradio_client(gan_space: tuple[Path, Path], tmp_path: Path) -> None:
    from gradio_client import Client

    export, folder = gan_space
    port = free_port()
    env = {k: v for k, v in offline_env().items() if k != "PYTHONPATH"}  # the app finds its own copy of gan
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=folder, env={**env, "GRADIO_SERVER_PORT": str(port)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, deadline = f"http://127.0.0.1:{port}/", time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                time.sleep(0.5)
        grid = np.asarray(Image.open(Client(url, verbose=False).predict(5, 4, None, api_name="/samples")).convert("RGB"))
    finally:
        proc.terminate()
        output = proc.communicate(timeout=60)[0]
    assert np.array_equal(grid, DemoModel(export).samples(5, 4)), output  # what the exported model draws for seeds 5..8
    assert "Traceback" not in output


def test_segmentation_space_ships_example_images(tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    from gan.data.shapes import render_shapes
    from gan.deploy.demo import EXAMPLES_SEED

    export = write_seg_export(tmp_path / "seg")
    done = export_space(export, tmp_path / "seg-space")
    assert done.returncode == 0, done.stderr
    examples = sorted((tmp_path / "seg-space" / "examples").glob("*.png"))
    assert [p.name for p in examples] == [f"shapes-{i}.png" for i in range(4)]
    assert np.array_equal(np.asarray(Image.open(examples[1])), render_shapes(EXAMPLES_SEED, 1, 16)[0])  # shapes at the model's size
    dm = DemoModel(tmp_path / "seg-space" / "model", tmp_path / "seg-space" / "examples")
    app = build_app(dm)
    samples = next(c for c in app.get_config_file()["components"] if c["type"] == "dataset")["props"]["samples"]
    assert [Path(s[0]["orig_name"]).name for s in samples] == [p.name for p in examples]  # the page offers the shipped files
    with serve(app) as url:
        out = Client(url, verbose=False).predict(handle_file(str(examples[0])), api_name="/segment")
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), DemoModel(export).segment(np.asarray(Image.open(examples[0]))))


def test_a_space_whose_app_fails_its_check_leaves_out_as_it_was(gan_space: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    export, folder = gan_space
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    monkeypatch.setattr(space, "APP_PY", "import sys\nsys.exit('error: broken app')\n")
    with pytest.raises(ExportError, match=r"the Space's app.py failed its check \(exit 1\): error: broken app; nothing was written to"):
        space.write_space(load_source(export), folder)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert not list(folder.parent.glob(".tmp-*"))


def test_space_check_reports_which_package_it_imported(gan_space: tuple[Path, Path], tmp_path: Path) -> None:
    _, folder = gan_space
    done = subprocess.run([sys.executable, str(folder / "app.py"), "--check", str(tmp_path / "out.npy")], cwd=tmp_path, env=offline_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"package": str((folder / "gan").resolve())}  # its own copy, not the checkout's
    assert np.load(tmp_path / "out.npy").shape == (2 * 66 + 2, 2 * 66 + 2, 3)  # 4 images of 16 px shown at 64 px, 2 px padding


def test_requirements_come_from_the_installed_metadata_without_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # an installed wheel: site-packages holds gan/ and gan_toolkit-<version>.dist-info/METADATA, no pyproject.toml
    (tmp_path / "gan").mkdir()
    (tmp_path / "gan_toolkit-0.1.0.dist-info").mkdir()
    (tmp_path / "gan_toolkit-0.1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.4\nName: gan-toolkit\nRequires-Dist: torch==2.14.1\nRequires-Dist: accelerate<2,>=1.10\nRequires-Dist: numpy>=1.24\n"
        "Requires-Dist: Pillow>=10\nRequires-Dist: safetensors>=0.4\nRequires-Dist: PyYAML>=6\nRequires-Dist: matplotlib>=3.7\n"
        "Requires-Dist: huggingface_hub>=0.30\n"
        "Requires-Dist: gradio<7,>=5.0; extra == \"demo\"\n\nRequires-Dist: not-a-requirement (README text)\n")
    monkeypatch.setattr(space, "PACKAGE_ROOT", tmp_path / "gan")
    assert space.project_requirements()[-3:] == ["matplotlib>=3.7", "huggingface_hub>=0.30", "gradio<7,>=5.0"]  # headers only, environment markers dropped
    assert space.space_requirements().splitlines() == ["torch==2.14.1", "numpy>=1.24", "Pillow>=10", "safetensors>=0.4", "PyYAML>=6",
                                                       "matplotlib>=3.7", "huggingface_hub>=0.30", "gradio<7,>=5.0"]
    (tmp_path / "gan_toolkit-0.1.0.dist-info" / "METADATA").write_text("Name: gan-toolkit\nRequires-Dist: torch==2.14.1\n")
    with pytest.raises(ExportError, match="the toolkit's requirements name no numpy, pillow, safetensors, pyyaml, matplotlib, huggingface-hub, gradio"):
        space.space_requirements()
