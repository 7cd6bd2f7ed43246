"""Generator and SegmentationModel as Hugging Face Hub models: save_pretrained -> from_pretrained round trips,
older hub folders, loading by repo id from a pre-populated Hub cache (offline), sample.py with an id, and the
one-line error of an id that is not cached."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from conftest import REPO, offline_env

sys.path.insert(0, str(Path(__file__).parent))
from tiny_exports import SHAPE_NAMES, populate_hub_cache, tiny_segmenter, write_conditional_hub, write_seg_hub  # noqa: E402

SEEDS = torch.stack([torch.randn(8, generator=torch.Generator().manual_seed(s)) for s in range(6)])
LABELS = torch.tensor([0, 1, 2, 2, 1, 0])


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An offline Hub cache in a temp folder holding user/tiny-gan (main) and user/tiny-seg, for this process and its children."""
    from huggingface_hub import constants

    cache = tmp_path / "hf_cache"
    populate_hub_cache(cache, "user/tiny-gan", write_conditional_hub(tmp_path / "gan"))
    populate_hub_cache(cache, "user/tiny-seg", write_seg_hub(tmp_path / "seg"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_save_pretrained_then_from_pretrained_computes_the_same(tmp_path: Path) -> None:
    from gan.models import Generator
    from gan.seg.model import SegmentationModel

    folder = write_conditional_hub(tmp_path / "gan")
    config = json.loads((folder / "config.json").read_text())
    # PyTorchModelHubMixin's config: the constructor arguments at the top level, what the toolkit adds beside them
    assert {k: config[k] for k in ("nz", "resolution", "ngf", "num_classes", "cond")} == {"nz": 8, "resolution": 16, "ngf": 8, "num_classes": 3, "cond": "embed"}
    assert config["gan_toolkit_kind"] == "generator" and config["gan_toolkit"] == {"label_names": SHAPE_NAMES, "step": 5}
    original = Generator.from_pretrained(folder)
    again = tmp_path / "again"
    original.save_pretrained(again)
    reloaded = Generator.from_pretrained(again)
    assert not reloaded.training and reloaded.export_meta == {"label_names": SHAPE_NAMES, "step": 5}
    assert json.loads((again / "config.json").read_text()) == config
    with torch.no_grad():
        assert torch.equal(reloaded(SEEDS, LABELS), original(SEEDS, LABELS))
        assert not torch.equal(reloaded(SEEDS, LABELS), reloaded(SEEDS, (LABELS + 1) % 3))  # the labels matter

    seg = tiny_segmenter()
    seg.save_pretrained(tmp_path / "seg")
    image = torch.rand(2, 3, 20, 28) * 2 - 1
    with torch.no_grad():
        assert torch.equal(SegmentationModel.from_pretrained(tmp_path / "seg")(image), seg(image))
    with pytest.raises(ValueError, match=r"from_pretrained got ngf=16, but the saved model was built with ngf=8$"):
        SegmentationModel.from_pretrained(tmp_path / "seg", ngf=16)


def test_a_hub_folder_in_the_older_layout_still_loads(tmp_path: Path) -> None:
    """Before the models had the mixin, config.json was the export JSON ("model": constructor arguments) + the kind."""
    from gan.deploy.source import load_source
    from gan.models import Generator

    torch.manual_seed(1)
    args = {"nz": 8, "channels": 3, "resolution": 16, "ngf": 8, "num_classes": 3, "cond": "embed"}
    model = Generator(**args).eval()
    old = tmp_path / "old"
    old.mkdir()
    save_file(model.state_dict(), str(old / "model.safetensors"))
    (old / "config.json").write_text(json.dumps({"gan_toolkit_kind": "generator", "model": args, "step": 7, "label_names": SHAPE_NAMES}))
    loaded = Generator.from_pretrained(old)
    with torch.no_grad():
        assert torch.equal(loaded(SEEDS, LABELS), model(SEEDS, LABELS))
    assert loaded.export_meta == {"step": 7, "label_names": SHAPE_NAMES}
    assert load_source(old).label_names == SHAPE_NAMES and load_source(old).meta["model"] == args
    loaded.save_pretrained(tmp_path / "new")  # re-saved in the mixin's layout, the step and classes kept
    config = json.loads((tmp_path / "new" / "config.json").read_text())
    assert config["nz"] == 8 and config["gan_toolkit"] == {"step": 7, "label_names": SHAPE_NAMES}


def test_from_pretrained_by_repo_id_reads_the_hub_cache_offline(hub_cache: Path, tmp_path: Path) -> None:
    from gan.formats.resolve import HubSourceError
    from gan.deploy.source import load_source
    from gan.models import Generator
    from gan.seg.model import SegmentationModel

    by_id, by_folder = Generator.from_pretrained("user/tiny-gan"), Generator.from_pretrained(tmp_path / "gan")
    with torch.no_grad():
        assert torch.equal(by_id(SEEDS, LABELS), by_folder(SEEDS, LABELS))
    assert Generator.from_pretrained("user/tiny-gan@main").export_meta["label_names"] == SHAPE_NAMES
    assert SegmentationModel.from_pretrained("user/tiny-seg", revision="main").num_classes == 4
    assert load_source("user/tiny-seg").kind == "segmenter"
    with pytest.raises(ValueError, match="is a hub folder of a generator, not of a segmenter"):
        SegmentationModel.from_pretrained("user/tiny-gan")
    with pytest.raises(HubSourceError) as err:
        Generator.from_pretrained("user/tiny-gan@v2")
    assert str(err.value) == (f"'user/tiny-gan@v2' is not a local path, and the Hub repo 'user/tiny-gan' at revision 'v2' is not in the "
                              f"Hub cache ({hub_cache}), and HF_HUB_OFFLINE is set: nothing is downloaded")


def test_a_local_path_wins_over_a_repo_id(hub_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gan.formats.resolve import parse_repo_id, resolve_source

    assert parse_repo_id("user/tiny-gan@v1.0") == ("user/tiny-gan", "v1.0") and parse_repo_id("user/tiny-gan") == ("user/tiny-gan", None)
    assert parse_repo_id("runs/quickstart/export") is None and parse_repo_id("my-gan") is None and parse_repo_id("/abs/x") is None
    snapshot = resolve_source("user/tiny-gan")
    assert snapshot.parent.parent == hub_cache / "models--user--tiny-gan" and (snapshot / "config.json").is_file()
    monkeypatch.chdir(tmp_path)
    write_conditional_hub(tmp_path / "user" / "tiny-gan", seed=1)
    assert resolve_source("user/tiny-gan") == Path("user/tiny-gan")  # the folder here, not the cached repo
    assert resolve_source("not/here/at/all") == Path("not/here/at/all")  # neither: the loader says it does not exist


def _sample(source: str, grid: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "sample.py"), source, "--grid", str(grid), "--labels", "square,circle", "--per-label", "3"],
                          cwd=grid.parent, env={**offline_env()}, capture_output=True, text=True, timeout=120)


def test_sample_py_takes_a_repo_id_and_an_uncached_one_is_one_line(hub_cache: Path, tmp_path: Path) -> None:
    import importlib.util

    done = _sample("user/tiny-gan@main", tmp_path / "by_id.png")
    assert done.returncode == 0, done.stderr
    spec = importlib.util.spec_from_file_location("sample_script", REPO / "sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(tmp_path / "gan"), "--grid", str(tmp_path / "by_folder.png"), "--labels", "square,circle", "--per-label", "3",
                        "--device", "cpu"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "by_id.png")), np.asarray(Image.open(tmp_path / "by_folder.png")))
    done = _sample("user/not-cached", tmp_path / "none.png")
    assert done.returncode == 2 and done.stderr == (f"error: 'user/not-cached' is not a local path, and the Hub repo 'user/not-cached' is not "
                                                    f"in the Hub cache ({hub_cache}), and HF_HUB_OFFLINE is set: nothing is downloaded\n")
    assert not (tmp_path / "none.png").exists()
