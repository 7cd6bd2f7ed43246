"""Decoded-image cache (``data.cache``): decode and resize every image once, then train from uint8.

The uncached pipeline already works in uint8 until its last two steps (PIL decode -> resize ->
centre crop give a uint8 image; ``ToTensor`` divides by 255 and ``Normalize`` maps to [-1, 1]).
So the cache stores exactly that uint8 image, recovered losslessly from the pipeline's own output,
and :func:`to_unit_range` repeats the same float operations: a cached item equals the uncached
item bit for bit. Labels (``(image, label)`` items) are kept.

- ``memory``: one ``(N, C, R, R)`` uint8 array in RAM, decoded at start-up by every process.
- ``disk``: a memory-mapped ``.npy`` under ``data.cache_dir`` named by a hash of what it holds
  (every ``data.*`` setting but the few of :data:`NOT_IN_KEY`, which cannot change it; an image
  folder's file list with sizes and mtimes), so a changed folder or setting builds a new one.
  Built by the main process only (the others wait), written to a temporary file and renamed when
  complete. A cache of the same settings with other contents is deleted by the next build only when
  no live process uses it (:mod:`.cache_locks`): parallel runs never delete each other's caches.
- ``auto``: disk when the cache folder is writable and has room (reused by later runs on the same
  data, and served from the page cache as fast as RAM), else memory when the images take at most a
  quarter of the RAM, else no cache.
- ``none``: no cache.

Unreadable files are left out of the cache (reported once by :class:`ImageFolder`), or stop the
build with its :class:`DataError` under ``data.on_bad_image=error``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..config import DataConfig
from ..errors import DataError
from ..formats import user_cache_dir
from ..locking import pid_alive
from ..process.workers import WORKER_ERRORS, load_first_item, one_line_worker_error
from .cache_locks import CacheHold, evict_other_contents

CACHE_VERSION = 1  # bump when the stored layout or the decoding pipeline changes
MEMORY_FRACTION = 0.25  # auto: in RAM when the decoded images take at most this share of it


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float in [-1, 1] with the same operations as ``ToTensor`` + ``Normalize(0.5, 0.5)``."""
    # One new float tensor, then in place: a batch-sized temporary per operation costs more than the arithmetic.
    return images.to(torch.float32, copy=True).div_(255).sub_(0.5).div_(0.5)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_unit_range` for pipeline outputs (exact: they are k/255 values in float)."""
    return images.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def files_key(files: Sequence[Path], root: Path) -> str:
    """What an image folder's cache depends on: each file's relative path, size and mtime."""
    lines = []
    for f in files:
        st = f.stat()
        lines.append(f"{f.relative_to(root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}")
    return "\n".join(lines)


# The data.* fields that cannot change the decoded images or their labels. Every other field is part of
# the cache key (settings_key), so a new data setting is in the key unless it is added here on purpose.
NOT_IN_KEY = frozenset({
    "download",  # whether a missing torchvision dataset is fetched, not what it holds
    "num_workers",  # how many processes decode
    "cache",  # where the decoded images are kept ...
    "cache_dir",  # ... and in which folder
})


def settings_key(cfg: DataConfig) -> str:
    """What a cache depends on besides an image folder's files: every ``data.*`` field but :data:`NOT_IN_KEY`.

    Taken from the config's fields (like the shapes and labels settings), so a new data setting
    cannot be left out of the key. ``data.root`` counts as its absolute path.
    """
    settings = []
    for f in dataclasses.fields(cfg):
        if f.name in NOT_IN_KEY or (f.name == "limit_seed" and not cfg.limit):  # the seed picks nothing without a limit
            continue
        value = getattr(cfg, f.name)
        if f.name == "root":
            value = Path(value).resolve().as_posix()  # the same folder, named from another working directory
        settings.append(f"{f.name}={value!r}")
    return "\t".join(settings)


def cache_meta(cfg: DataConfig, files: Sequence[Path] | None = None) -> Path:
    """The disk cache's ``<dataset id>-<digest>.json`` for ``cfg`` (and an image folder's ``files``).

    The id names the settings: caches of other settings are other datasets, kept side by side, and
    parallel runs on them do not delete each other's builds. The digest adds the files, so a changed
    folder gets a new cache, whose build evicts the stale one (same id) once no process uses it.
    """
    settings = settings_key(cfg)
    content = files_key(files, Path(cfg.root)) if files is not None else ""
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, settings, content]).encode()).hexdigest()[:20]
    dataset_id = hashlib.sha256(settings.encode()).hexdigest()[:12]
    return cache_folder(cfg) / f"{dataset_id}-{digest}.json"


def cache_folder(cfg: DataConfig) -> Path:
    """``data.cache_dir``, else ``$XDG_CACHE_HOME/gan-toolkit/data`` (``~/.cache/...``).

    Never inside the data folder by default: other tools (torchvision's ImageFolder) would take a
    cache folder there for one more class.
    """
    return Path(cfg.cache_dir) if cfg.cache_dir else user_cache_dir("data")


def _writable_with_room(folder: Path, needed: int) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return os.access(folder, os.W_OK) and shutil.disk_usage(folder).free > 2 * needed
    except OSError:
        return False


def _fits_in_ram(needed: int) -> bool:
    try:
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): be conservative
        return False
    return needed <= MEMORY_FRACTION * ram


def pick_mode(cfg: DataConfig, num_items: int) -> str:
    """What ``data.cache=auto`` means for ``num_items`` images: ``disk``, ``memory`` or ``none``."""
    if cfg.cache != "auto":
        return cfg.cache
    needed = num_items * cfg.channels * cfg.resolution**2
    if _writable_with_room(cache_folder(cfg), needed):
        return "disk"
    return "memory" if _fits_in_ram(needed) else "none"


class DecodedDataset(Dataset):
    """Items of a decoded uint8 array as [-1, 1] float tensors (plus the label when there is one).

    A disk cache is reopened by path in each dataloader worker instead of being pickled whole; ``hold``
    keeps it from eviction while this object (or a forked worker's copy) lives.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, meta: Path | None = None, label_names: Sequence[str] = (), hold: CacheHold | None = None) -> None:
        self.images, self.labels, self.meta, self.hold = images, labels, meta, hold
        self.label_names = list(label_names)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Any:
        image = to_unit_range(torch.from_numpy(np.array(self.images[index])))
        return image if self.labels is None else (image, int(self.labels[index]))

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__, images=None, hold=None) if self.meta is not None else dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.meta is not None:
            self.hold = CacheHold(self.meta)  # a spawned worker's own lock (a forked one shares its parent's)
            self.images = open_disk_cache(self.meta)[0]


class AsUint8(Dataset):
    """``base``'s items back in uint8 (+ label), so that the loader workers do this work in parallel."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        item = self.base[index]
        if isinstance(item, (tuple, list)):
            return (to_uint8(item[0]), *item[1:])
        return to_uint8(item)


def decoded_batches(base: Dataset, num_workers: int, progress: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Every readable item of ``base``, in order, as uint8 ``(n, C, R, R)`` batches (+ int64 labels)."""
    from tqdm.auto import tqdm

    bad = getattr(base, "bad", None)  # ImageFolder's registry: which indices were unreadable
    # Its own generator: an iterator otherwise draws its workers' base seed from the global RNG, and a
    # run that builds the cache would then initialise its models differently from one that reuses it.
    load_first_item(base, num_workers)
    loader = DataLoader(AsUint8(base), batch_size=64, shuffle=False, num_workers=num_workers, generator=torch.Generator().manual_seed(0))
    it = iter(loader)
    start = 0
    with tqdm(total=len(base), desc="data cache: decoding", unit="img", disable=not progress) as bar:  # type: ignore[arg-type]
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except WORKER_ERRORS as err:
                raise one_line_worker_error(err) from None
            pair = isinstance(batch, (tuple, list))
            image = batch[0] if pair else batch
            keep = torch.ones(len(image), dtype=torch.bool)
            if bad is not None:  # a bad file's slot holds the next readable image: leave it out
                keep = torch.tensor([not bad.is_bad(start + i) for i in range(len(image))])
            label = torch.as_tensor(batch[1])[keep].to(torch.int64) if pair and len(batch) > 1 else None
            yield image[keep], label
            start += len(image)
            bar.update(len(image))


def build_memory_cache(base: Dataset, num_workers: int, progress: bool) -> DecodedDataset:
    images, labels = [], []
    for image, label in decoded_batches(base, num_workers, progress):
        images.append(image)
        if label is not None:
            labels.append(label)
    if not images or sum(len(i) for i in images) == 0:
        raise DataError("no image of the dataset could be read")
    return DecodedDataset(torch.cat(images).numpy(), torch.cat(labels).numpy() if labels else None)


ORPHAN_GRACE_S = 60  # a build writes its temporary at every batch: one a minute untouched is not being written


def reclaim_orphaned_temporaries(folder: Path) -> list[Path]:
    """Delete the temporaries (``*.tmp<pid>*``) of builds whose process is gone; returns them.

    A build killed mid-way leaves its temporary forever otherwise. One is reclaimed only when its
    process is not alive on this host *and* it was not written for :data:`ORPHAN_GRACE_S` seconds:
    the name holds no host, and a cache folder shared by machines may hold a live build of another
    one. A live process's temporary is never touched.
    """
    import re
    import time

    reclaimed = []
    for path in folder.glob("*.tmp*") if folder.is_dir() else []:
        match = re.search(r"\.tmp(\d+)(\.npy)?$", path.name)
        if match is None or int(match.group(1)) == os.getpid() or pid_alive(int(match.group(1))):
            continue
        try:
            if time.time() - path.stat().st_mtime >= ORPHAN_GRACE_S:
                path.unlink()
                reclaimed.append(path)
        except FileNotFoundError:  # reclaimed by another process at the same moment
            continue
    return reclaimed


def build_disk_cache(meta: Path, base: Dataset, num_workers: int, progress: bool) -> None:
    """Stream the decoded images into ``<meta>.u8`` (+ labels); ``meta`` (JSON) is written last.

    Every file goes through a temporary name and a rename, so a crash leaves no half cache behind.
    The caller holds the cache (:class:`CacheHold`); the same dataset's caches with other contents
    are deleted first unless a live process holds them.
    """
    evict_other_contents(meta)
    pid = os.getpid()  # per-process temporary names: parallel runs may build the same cache at once
    data, tmp = meta.with_suffix(".u8"), meta.with_suffix(f".u8.tmp{pid}")
    count, shape, labels = 0, None, []
    with open(tmp, "wb") as f:
        for image, label in decoded_batches(base, num_workers, progress):
            f.write(image.numpy().tobytes())
            count, shape = count + len(image), tuple(image.shape[1:])
            if label is not None:
                labels.append(label)
    if count == 0:
        tmp.unlink()
        raise DataError("no image of the dataset could be read")
    tmp.replace(data)
    if labels:
        np.save(meta.with_suffix(f".tmp{pid}.npy"), torch.cat(labels).numpy())
        meta.with_suffix(f".tmp{pid}.npy").replace(meta.with_suffix(".labels.npy"))
    info = {"version": CACHE_VERSION, "count": count, "shape": list(shape), "labels": bool(labels)}  # type: ignore[arg-type]
    meta.with_suffix(f".json.tmp{pid}").write_text(json.dumps(info))
    meta.with_suffix(f".json.tmp{pid}").replace(meta)


def open_disk_cache(meta: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The memory-mapped images (and labels) of a complete disk cache."""
    info = json.loads(meta.read_text())
    images = np.memmap(meta.with_suffix(".u8"), dtype=np.uint8, mode="r", shape=(info["count"], *info["shape"]))
    labels = np.load(meta.with_suffix(".labels.npy")) if info["labels"] else None
    return images, labels


def cached_dataset(cfg: DataConfig, base: Dataset, files: Sequence[Path] | None = None) -> Dataset:
    """``base`` served from a decoded uint8 cache as ``cfg.cache`` says (``base`` itself for ``none``).

    ``files``: an image folder's file list (under ``cfg.root``), part of the disk cache's key
    (:func:`cache_meta`); None for a generated or torchvision dataset, which its settings name.
    """
    mode = pick_mode(cfg, len(base))  # type: ignore[arg-type]
    if mode == "none":
        return base
    from accelerate import PartialState

    state = PartialState()
    names = base.label_names  # type: ignore[attr-defined]  (every dataset of build_image_dataset has them)
    if mode == "memory":
        cached = build_memory_cache(base, cfg.num_workers, state.is_local_main_process)
        cached.label_names = list(names)
        return cached
    meta = cache_meta(cfg, files)
    # One builder per machine (the cache folder may be local to it); the others then map its file.
    with state.local_main_process_first():
        with contextlib.suppress(OSError):  # an unusable folder is reported below
            meta.parent.mkdir(parents=True, exist_ok=True)
        hold = CacheHold(meta)  # before looking: from now on no other run deletes this cache
        if state.is_local_main_process:
            reclaim_orphaned_temporaries(meta.parent)
        if not meta.exists():
            try:
                meta.parent.mkdir(parents=True, exist_ok=True)
                writable = os.access(meta.parent, os.W_OK)
            except OSError:
                writable = False
            if not writable:
                raise DataError(f"data.cache_dir '{meta.parent}' is not a writable folder: set data.cache_dir elsewhere or data.cache=memory")
            build_disk_cache(meta, base, cfg.num_workers, progress=state.is_local_main_process)
    return DecodedDataset(*open_disk_cache(meta), meta=meta, label_names=names, hold=hold)
