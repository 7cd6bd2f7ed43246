"""sample.py --out streams: a batch of latents and images at a time, after checking the disk can take them all."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from tiny_exports import write_gan_export  # noqa: E402

import sample  # noqa: E402
from gan.formats import GENERATOR, write_export  # noqa: E402
from gan.generation import class_sampling  # noqa: E402,F401  imported before any test patches what it imports by name
from gan.generation import sampling as S  # noqa: E402
from gan.generation.grid import grid_uint8  # noqa: E402
from gan.models import Generator  # noqa: E402

HUGE = 100_000_000


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gan_export(tmp_path_factory.mktemp("gan") / "export")


@pytest.fixture(scope="module")
def conditional(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kwargs = {"nz": 8, "channels": 3, "resolution": 16, "ngf": 8, "num_classes": 3, "cond": "embed"}
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("cond") / "export"
    write_export(folder, GENERATOR, Generator(**kwargs).state_dict(), {"model": kwargs, "label_names": ["a", "b", "c"], "step": 0})
    return folder


def free_space(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=free, used=0, free=free))


@pytest.mark.parametrize("labels", [[], ["--labels", "0,2"]])
def test_a_request_larger_than_the_free_disk_is_refused_before_anything_is_written(export, conditional, tmp_path, capsys,
                                                                                    monkeypatch, labels):
    free_space(monkeypatch, 2**30)
    made: list[int] = []
    monkeypatch.setattr(S, "latents_for_seeds", lambda seeds, nz: made.append(1))
    source = conditional if labels else export
    out = tmp_path / "out"
    argv = [str(source), "--out", str(out), "--num", str(HUGE), *labels]
    if labels:  # a small grid (a column per --per-label seed) that is not written either
        argv += ["--grid", str(tmp_path / "g.png")]
    assert sample.main(argv) == 2
    count = HUGE * (2 if labels else 1)
    need = count * (3 * 16 * 16 + S.PNG_OVERHEAD_BYTES) / 2**30
    assert capsys.readouterr().err == (f"error: --out '{out}': {count} images of 16x16 may take up to {need:.1f} GiB, but its "
                                       "filesystem has 1.0 GiB free; ask for fewer images or free some space\n")
    assert made == [] and not out.exists() and not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("argv, count", [(["--num", str(HUGE)], HUGE), (["--seeds", "0-3999", "--labels", "0-2"], 12_000)])
def test_a_grid_beyond_the_maximum_is_refused_before_anything_is_made(export, conditional, tmp_path, capsys, monkeypatch, argv, count):
    made: list[int] = []
    monkeypatch.setattr(S, "latents_for_seeds", lambda seeds, nz: made.append(1))
    source = conditional if "--labels" in argv else export
    assert sample.main([str(source), "--grid", str(tmp_path / "g.png"), *argv]) == 2
    assert capsys.readouterr().err == (f"error: --grid: {count} images in one grid; expected at most {S.MAX_GRID_IMAGES} "
                                       "(write more with --out, which streams them)\n")
    assert made == [] and not (tmp_path / "g.png").exists()


def test_a_huge_num_is_generated_one_batch_at_a_time(export, tmp_path, monkeypatch):
    free_space(monkeypatch, 2**62)
    latents_for_seeds, batches = S.latents_for_seeds, []

    class Enough(Exception):
        pass

    def counting(seeds, nz):
        seeds = list(seeds)
        assert len(seeds) <= 8, f"{len(seeds)} latents made at once"
        batches.append(seeds)
        if len(batches) > 3:
            raise Enough
        return latents_for_seeds(seeds, nz)

    monkeypatch.setattr(S, "latents_for_seeds", counting)
    with pytest.raises(Enough):
        sample.main([str(export), "--out", str(tmp_path / "out"), "--num", str(HUGE // 10), "--batch-size", "8"])
    assert batches[:3] == [list(range(0, 8)), list(range(8, 16)), list(range(16, 24))]
    assert len(list((tmp_path / "out").iterdir())) == 24


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("labels", [None, "2,0"])
def test_num_20_writes_the_same_files_and_pixels_as_one_batch_of_everything(export, conditional, tmp_path, labels):
    """The old path: all latents at once, generated in chunks of --batch-size, then written."""
    source = conditional if labels is not None else export
    args = [str(source), "--out", str(tmp_path / "out"), "--num", "20", "--batch-size", "8", "--device", "cpu"]
    assert sample.main(args + (["--labels", labels] if labels else [])) == 0
    model, _ = S.load_generator(source)
    seeds = list(range(20))
    if labels is None:
        pairs = [(None, s) for s in seeds]
        names = [f"seed{s:06d}" for s in seeds]
    else:
        pairs = [(k, s) for k in (2, 0) for s in seeds]
        names = [f"label{k}-seed{s:06d}" for k, s in pairs]
    classes = None if labels is None else torch.tensor([k for k, _ in pairs])
    images = S.generate(model, S.latents_for_seeds([s for _, s in pairs], 8), 8, labels=classes)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{n}.png" for n in names)
    for image, name in zip(images, names):
        assert np.array_equal(pixels(tmp_path / "out" / f"{name}.png"), grid_uint8(image[None], padding=0))
