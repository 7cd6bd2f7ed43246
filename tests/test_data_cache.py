"""data.cache: image folders decoded once into uint8 (memory or a memory-mapped disk file), served
exactly as the uncached pipeline serves them; the disk cache is reused until its inputs change."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
import re

import numpy as np
import pytest
import torch
from PIL import Image

from gan.config import DataConfig
from gan.data import NO_LABEL, build_image_dataset
from gan.data import cache as cache_mod
from gan.data.cache import DecodedDataset
from gan.errors import DataError

RES = 12


@pytest.fixture
def folder(tmp_path):
    """Five RGB/gray PNGs of different sizes (resized and cropped to 12x12)."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(20, 24), (12, 12), (31, 17), (40, 40), (15, 30)]):
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(arr if i != 3 else arr[..., 0]).save(root / ("sub" if i % 2 else ".") / f"img{i}.png")
    return root


def data_cfg(root, tmp_path, **kw) -> DataConfig:
    kw = {"cache_dir": str(tmp_path / "cache"), "resolution": RES, **kw}
    return DataConfig(name="image_folder", root=str(root), channels=3, **kw)


def items(ds) -> torch.Tensor:
    return torch.stack([ds[i][0] for i in range(len(ds))])


@pytest.mark.parametrize("mode", ["memory", "disk", "auto"])
def test_cached_items_equal_the_uncached_pipeline_bit_for_bit(folder, tmp_path, mode):
    plain = build_image_dataset(data_cfg(folder, tmp_path, cache="none"))
    cached = build_image_dataset(data_cfg(folder, tmp_path, cache=mode))
    assert isinstance(cached, DecodedDataset) and not isinstance(plain, DecodedDataset)
    assert len(cached) == len(plain) == 5
    ref = items(plain)
    assert ref.dtype == torch.float32 and ref.shape == (5, 3, RES, RES) and ref.min() == -1.0 and ref.max() == 1.0
    assert torch.equal(items(cached), ref)
    on_disk = mode != "memory"  # auto: the cache folder is writable
    assert cached.images.dtype == np.uint8 and isinstance(cached.images, np.memmap) == on_disk
    assert [cached[i][1] for i in range(5)] == [plain[i][1] for i in range(5)] == [NO_LABEL] * 5
    files = sorted(p.name for p in (tmp_path / "cache").glob("*")) if (tmp_path / "cache").exists() else []
    assert len(files) == (4 if on_disk else 0), files  # <id>-<hash>.json + .u8 + .labels.npy + .lock; nothing in memory mode


def test_auto_picks_disk_when_writable_else_memory_when_a_quarter_of_the_ram_holds_the_images(monkeypatch, tmp_path):
    cfg = DataConfig(resolution=32, channels=1, cache="auto", cache_dir=str(tmp_path / "cache"))  # 1024 bytes per image
    assert cache_mod.pick_mode(cfg, 1000) == "disk"
    assert (tmp_path / "cache").is_dir()
    pages = {"SC_PHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}  # 4,096,000 bytes of RAM
    monkeypatch.setattr(cache_mod.os, "sysconf", lambda name: pages[name])
    monkeypatch.setattr(cache_mod.os, "access", lambda path, mode: False)  # the cache folder is read-only
    assert cache_mod.pick_mode(cfg, 1000) == "memory"  # 1,024,000 bytes = exactly a quarter
    assert cache_mod.pick_mode(cfg, 1001) == "none"
    assert cache_mod.pick_mode(DataConfig(cache="disk"), 1) == "disk"


def decoded_opens(monkeypatch) -> list[str]:
    """Record each image file the dataset opens."""
    opened = []
    real_open = Image.open

    def spy(path, *a, **k):
        opened.append(str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr("gan.data.images.Image.open", spy)
    return opened


def test_disk_cache_is_reused_then_rebuilt_when_a_file_or_the_resolution_changes(folder, tmp_path, monkeypatch):
    opened = decoded_opens(monkeypatch)
    first = build_image_dataset(data_cfg(folder, tmp_path, cache="disk"))
    assert len(opened) == 5
    (meta,) = (tmp_path / "cache").glob("*.json")
    assert json.loads(meta.read_text())["count"] == 5
    stamp = meta.stat().st_mtime_ns

    opened.clear()
    again = build_image_dataset(data_cfg(folder, tmp_path, cache="disk"))
    assert opened == [] and meta.stat().st_mtime_ns == stamp  # no decoding, same file
    assert torch.equal(items(again), items(first))

    del first, again  # a cache in use is never evicted (test_cache_eviction.py)
    Image.new("RGB", (12, 12), (255, 255, 255)).save(folder / "sub" / "img1.png")  # same name, new size and mtime
    changed = build_image_dataset(data_cfg(folder, tmp_path, cache="disk"))
    assert len(opened) == 5 and not meta.exists()  # rebuilt under a new name; the stale cache is removed
    (new_meta,) = (tmp_path / "cache").glob("*.json")
    assert new_meta != meta and torch.equal(changed[3][0], torch.ones(3, RES, RES))  # sub/img1.png sorts 4th

    opened.clear()
    bigger = build_image_dataset(data_cfg(folder, tmp_path, cache="disk", resolution=16))
    assert len(opened) == 5 and bigger[0][0].shape == (3, 16, 16)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2  # another setting is another dataset: both caches kept


def test_pickled_disk_cache_reopens_its_file_instead_of_copying_it(folder, tmp_path):
    import pickle

    ds = build_image_dataset(data_cfg(folder, tmp_path, cache="disk"))
    blob = pickle.dumps(ds)
    assert len(blob) < ds.images.nbytes  # the images are not in the pickle (dataloader workers under spawn)
    assert torch.equal(items(pickle.loads(blob)), items(ds))


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_a_bad_image_is_left_out_and_reported_once(folder, tmp_path, mode):
    (folder / "broken.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning) as record:
        ds = build_image_dataset(data_cfg(folder, tmp_path, cache=mode, num_workers=0))
    messages = [str(w.message) for w in record if "unreadable" in str(w.message)]
    assert messages == [f"skipping unreadable image '{folder / 'broken.png'}': " + messages[0].split("': ", 1)[1]]
    assert len(ds) == 5  # the five good images, none twice
    plain = build_image_dataset(data_cfg(folder, tmp_path, cache="none"))
    good = torch.stack([plain[i][0] for i in range(len(plain)) if plain.files[i].name != "broken.png"])
    assert torch.equal(items(ds), good)


def test_on_bad_image_error_stops_the_cache_build_naming_the_file(folder, tmp_path):
    (folder / "broken.png").write_bytes(b"")
    with pytest.raises(DataError, match=rf"^cannot read image '{re.escape(str(folder / 'broken.png'))}': .+ \(set data.on_bad_image=skip"):
        build_image_dataset(data_cfg(folder, tmp_path, cache="disk", on_bad_image="error", num_workers=2))
    assert list((tmp_path / "cache").glob("*.json")) == []  # nothing half-built left behind


def test_labels_are_kept():
    class Labelled(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return torch.full((1, 8, 8), i / 255 * 2 - 1), 7 - i

    ds = cache_mod.build_memory_cache(Labelled(), 0, progress=False)
    assert [ds[i][1] for i in range(3)] == [7, 6, 5] and torch.equal(ds[2][0], Labelled()[2][0])


def test_cache_dir_defaults_to_the_user_cache_never_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_mod.cache_folder(DataConfig(root=str(tmp_path))) == tmp_path / "xdg" / "gan-toolkit" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_mod.cache_folder(DataConfig(root=str(tmp_path))) == tmp_path / "home" / ".cache" / "gan-toolkit" / "data"
    assert cache_mod.cache_folder(DataConfig(cache_dir=str(tmp_path / "mine"))) == tmp_path / "mine"


RESUME = """
import sys
sys.path.insert(0, "tests")
from pathlib import Path
from test_rel_utils import train
out, folder = Path(sys.argv[1]), sys.argv[2]
assert train(out, "resume=latest", "train.steps=6", "data.name=image_folder", "data.root=" + folder, "data.cache=disk", "train.compile=true") == 0
"""


def test_training_from_a_disk_cache_with_compile_resumes_bit_exactly(tmp_path):
    """The reliability promise (exact resume in a new process) with the data cache and torch.compile on."""
    import shutil

    from test_rel_utils import differing_state_files, metrics, run_python, train

    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(1)
    for i in range(24):  # 3 batches of 8 per epoch
        Image.fromarray(rng.integers(0, 256, (18, 20, 3), dtype=np.uint8)).save(root / f"{i:02d}.png")
    data = ["data.name=image_folder", f"data.root={root}", "data.cache=disk", "train.compile=true"]
    started = time.time() - 1
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train(straight, "train.steps=6", "checkpoint.every=1", *data) == 0
    default = Path(os.environ["XDG_CACHE_HOME"]) / "gan-toolkit" / "data"  # conftest points XDG_CACHE_HOME at a temp folder
    assert len([p for p in default.glob("*.json") if p.stat().st_mtime >= started]) == 1
    assert not (root / ".gan_cache").exists()
    shutil.copytree(straight / "checkpoints" / "checkpoint-4", resumed / "checkpoints" / "checkpoint-4")  # mid-epoch
    (resumed / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics(straight)[:4]))
    res = run_python(RESUME, str(resumed), str(root))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "data cache: decoding" not in res.stderr  # the new process maps the existing cache
    final = "checkpoints/checkpoint-6"
    assert differing_state_files(straight / final, resumed / final) == []
    assert metrics(resumed) == metrics(straight)


def test_a_cache_dir_that_cannot_be_a_folder_is_a_one_line_data_error(folder, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(DataError, match=rf"^data.cache_dir '{re.escape(str(blocker / 'c'))}' is not a writable folder: set data.cache_dir elsewhere or data.cache=memory$"):
        build_image_dataset(data_cfg(folder, tmp_path, cache="disk", cache_dir=str(blocker / "c")))


def test_building_the_cache_leaves_the_global_rng_alone(tmp_path):
    # A run that builds the cache must initialise its models exactly like one that reuses it.
    from gan.config import DataConfig
    from gan.data import build_image_dataset

    cfg = DataConfig(resolution=8, shapes_size=3, cache="disk", cache_dir=str(tmp_path))
    torch.manual_seed(0)
    build_image_dataset(cfg)  # builds
    after_build = torch.rand(3)
    torch.manual_seed(0)
    build_image_dataset(cfg)  # reuses
    assert torch.equal(torch.rand(3), after_build)


def test_a_build_leaves_another_process_s_build_of_the_same_cache_alone(folder, tmp_path):
    """Two runs started together build the same cache: neither deletes the other's temporary file."""
    build_image_dataset(data_cfg(folder, tmp_path, cache="disk"))
    (meta,) = (tmp_path / "cache").glob("*.json")
    meta.unlink()  # as if this process found no cache while another one is still writing it
    theirs = meta.with_suffix(".u8.tmp999999")
    theirs.write_bytes(b"in progress")
    stale = meta.with_name(meta.name.split("-")[0] + "-0000.u8")  # the same folder with other contents
    stale.write_bytes(b"old")
    ds = build_image_dataset(data_cfg(folder, tmp_path, cache="disk"))
    assert theirs.read_bytes() == b"in progress" and not stale.exists() and len(ds) == 5
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        [meta.name, meta.with_suffix(".u8").name, meta.with_suffix(".labels.npy").name, meta.with_suffix(".lock").name, theirs.name])  # none of ours left


def test_caches_of_other_shapes_settings_do_not_evict_each_other(tmp_path):
    """Two runs on different shapes settings (or subsets) share a cache folder: each keeps its cache,
    and a build in progress of one is not deleted by the other (it was: both were 'shapes' in 'data')."""
    common = dict(name="shapes", resolution=8, shapes_size=6, cache="disk", cache_dir=str(tmp_path))
    build_image_dataset(DataConfig(**common))
    (first,) = tmp_path.glob("*.json")
    in_progress = first.with_suffix(".u8.tmp999999")
    in_progress.write_bytes(b"in progress")
    for other in (dict(shapes_max=1), dict(shapes_antialias=True), dict(shapes_rotate=False), dict(limit=3)):
        build_image_dataset(DataConfig(**common, **other))
    assert len(list(tmp_path.glob("*.json"))) == 5 and first.exists() and in_progress.read_bytes() == b"in progress"


def test_an_unconditional_then_a_conditional_cache_of_one_folder_keep_their_own_labels(tmp_path):
    """The conditional run used to read the labels (-1) of the unconditional run's cache (data.labels was not in its key)."""
    root = tmp_path / "classes"
    for name in ("circle", "square", "square"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(["circle", "square", "square"]):
        Image.new("RGB", (14, 14), (40 * i, 0, 0)).save(root / name / f"{i}.png")
    plain = build_image_dataset(data_cfg(root, tmp_path, cache="disk"))
    assert [plain[i][1] for i in range(3)] == [NO_LABEL] * 3
    labelled = build_image_dataset(data_cfg(root, tmp_path, cache="disk", labels="folders"))
    assert [labelled[i][1] for i in range(3)] == [0, 1, 1] and labelled.label_names == ["circle", "square"]
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2  # both kept: alternating runs rebuild nothing
    assert [build_image_dataset(data_cfg(root, tmp_path, cache="disk"))[i][1] for i in range(3)] == [NO_LABEL] * 3


def test_unconditional_then_conditional_training_on_one_folder(tmp_path):
    """The new user's sequence, end to end: it died in D with 'got labels -1..-1'."""
    from conftest import TINY, run_cmd

    root = tmp_path / "classes"
    for k, name in enumerate(["circle", "square"]):
        (root / name).mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (16, 16), (120 * k, 15 * i, 0)).save(root / name / f"{i}.png")
    data = [*TINY, "data.name=image_folder", f"data.root={root}", "data.cache=disk", "train.steps=1", "checkpoint.every=1"]
    cond = ["data.labels=folders", "model.num_classes=auto", "model.g_cond=embed", "model.d_cond=projection"]
    for out, extra in (("uncond", []), ("cond", cond)):
        res = run_cmd(["python", "train_gan.py", "--config", "tests/defaults.yaml", *data, *extra, f"out_dir={tmp_path / out}"])
        assert res.returncode == 0, res.stderr[-2000:]
    from gan.config import load_config, to_yaml
    from gan.generation.config import GANConfig

    for out, stored in (("uncond", "0"), ("cond", "auto")):  # the run's config.yaml: a number (it was '0') or the word
        written = (tmp_path / out / "config.yaml").read_text()
        assert f"\n  num_classes: {stored}\n" in written and to_yaml(load_config(GANConfig, tmp_path / out / "config.yaml")) == written


def _another(value, tp):
    """A value of schema type ``tp`` different from ``value``."""
    import typing

    if typing.get_origin(tp) is typing.Literal:
        return next(c for c in typing.get_args(tp) if c != value)
    if tp is bool:
        return not value
    if tp in (int, float):
        return value + 1
    if tp is str:
        return value + "x"
    if typing.get_origin(tp) is list:
        return [v / 2 for v in value]
    raise AssertionError(f"no test value for type {tp}: extend _another")


# Every data.* field that must be in the decoded-data cache key. A new data field fails
# test_every_data_field_is_decided until it is added here or to gan.data.cache.NOT_IN_KEY.
CONTENT_FIELDS = {
    "name", "root", "resolution", "channels", "split", "labels", "lsun_classes", "shapes_size", "shapes_seed", "shapes_max",
    "shapes_background", "shapes_radius", "shapes_antialias", "shapes_rotate", "on_bad_image", "max_image_pixels", "limit", "limit_seed",
}


def test_every_data_field_is_decided():
    import dataclasses

    fields = {f.name for f in dataclasses.fields(DataConfig)}
    assert fields == CONTENT_FIELDS | cache_mod.NOT_IN_KEY and not CONTENT_FIELDS & cache_mod.NOT_IN_KEY


def test_each_content_setting_changes_the_cache_key_and_the_others_do_not(tmp_path):
    import dataclasses
    import typing

    base = DataConfig(cache_dir=str(tmp_path), limit=5)  # with a limit, limit_seed matters too
    hints = typing.get_type_hints(DataConfig)
    names = {}
    for f in dataclasses.fields(DataConfig):
        changed = dataclasses.replace(base, **{f.name: _another(getattr(base, f.name), hints[f.name])})
        names[f.name] = cache_mod.cache_meta(changed).name
    same = {k for k, v in names.items() if v == cache_mod.cache_meta(base).name}
    assert same == set(cache_mod.NOT_IN_KEY)  # every content field gives another cache, nothing else does
    assert len(set(names.values())) == len(CONTENT_FIELDS) + 1
    assert cache_mod.cache_meta(DataConfig(cache_dir=str(tmp_path), limit_seed=3)) == cache_mod.cache_meta(DataConfig(cache_dir=str(tmp_path)))
