"""Batches indexed from the decoded cache (gan/data/indexed.py) and latents drawn once per update (GANStep)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from gan.config import DataConfig
from gan.data import build_image_dataset
from gan.data.cache import DecodedDataset
from gan.data.indexed import IndexedBatches, fits_on_device, free_device_bytes
from gan.data.loaders import train_loader
from gan.engine.data_stream import BatchStream
from gan.engine.setup import make_accelerator
from gan.generation.task import GANTask
from test_rel_utils import tiny_cfg


def test_the_images_go_to_the_device_when_a_quarter_of_its_free_memory_holds_them():
    assert fits_on_device(250, 1000) and not fits_on_device(251, 1000)
    assert fits_on_device(0, 0) and not fits_on_device(1, 0)
    assert fits_on_device(500, 1000, fraction=0.5) and not fits_on_device(501, 1000, fraction=0.5)
    assert not fits_on_device(1, None)  # not a GPU: the images stay where they are
    assert free_device_bytes(torch.device("cpu")) is None


@pytest.fixture(scope="module")
def decoded(tmp_path_factory) -> dict[str, DecodedDataset]:
    """The one-shape labelled shapes (3 classes) decoded into RAM and into a memory-mapped file."""
    folder = tmp_path_factory.mktemp("cache")
    common = dict(resolution=8, shapes_size=20, shapes_max=1, cache_dir=str(folder))
    return {mode: build_image_dataset(DataConfig(cache=mode, **common)) for mode in ("memory", "disk")}  # type: ignore[misc]


@pytest.mark.parametrize("mode", ["memory", "disk"])
@pytest.mark.parametrize("on_device", [None, True, False])
def test_an_indexed_batch_equals_the_collated_items(decoded, mode, on_device):
    ds = decoded[mode]
    batches = IndexedBatches(ds, "cpu", on_device)
    assert batches.on_device is bool(on_device)  # auto on a CPU: left where it is
    if not on_device:
        assert isinstance(batches.images, np.memmap if mode == "disk" else np.ndarray)  # not read into RAM
    indices = [7, 0, 19, 3, 3, 12]
    images, labels = batches(indices)
    ref_images, ref_labels = default_collate([ds[i] for i in indices])
    assert torch.equal(images, ref_images) and images.dtype == torch.float32
    assert torch.equal(labels, ref_labels) and labels.dtype == torch.int64
    assert sorted(set(labels.tolist())) == [0, 1, 2]
    assert list(batches.indices) == list(range(20))


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_the_gan_task_gets_todays_batches_in_todays_order_and_resumes_mid_epoch(tmp_path, mode):
    cfg = tiny_cfg(tmp_path / "run", f"data.cache={mode}", f"data.cache_dir={tmp_path / 'c'}", "data.shapes_max=1")
    acc = make_accelerator(cfg)[0]
    task = GANTask(cfg, acc)
    assert task.dataloader.num_workers == 0
    # Today's path: the decoded dataset's items, collated, through an equally prepared loader.
    dataset = build_image_dataset(cfg.data)
    assert isinstance(dataset, DecodedDataset)
    reference = BatchStream(acc.prepare(train_loader(dataset, cfg.train.batch_size, 0)))
    new = BatchStream(task.dataloader)
    states, got = [], []
    for _ in range(7):  # 3 batches per epoch: into the third epoch
        states.append(new.state_dict())
        got.append(next(new))
        want = next(reference)
        assert torch.equal(got[-1][0], want[0]) and torch.equal(got[-1][1], want[1])
    assert not torch.equal(got[0][0], got[3][0])  # a new order in the next epoch
    resumed = BatchStream(task.dataloader)
    resumed.load_state_dict(states[4])  # mid-epoch
    for batch in got[4:]:
        again = next(resumed)
        assert torch.equal(again[0], batch[0]) and torch.equal(again[1], batch[1])


def test_an_uncached_dataset_keeps_its_loader_items_and_workers(tmp_path):
    cfg = tiny_cfg(tmp_path / "run", "data.cache=none", "data.num_workers=1")
    task = GANTask(cfg, make_accelerator(cfg)[0])
    assert task.dataloader.num_workers == 1 and len(task.dataloader.dataset) == 24
    image, label = task.dataloader.dataset[0]  # items are decoded images, collated by PyTorch as before
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32 and isinstance(label, int)


def first_update_latents(tmp_path, name: str, *overrides: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The latents and fake labels G gets in the D phase of a conditional run's first step."""
    cfg = tiny_cfg(tmp_path / name, "data.shapes_max=1", "model.num_classes=auto", "data.cache=none", *overrides)
    trainer_acc = make_accelerator(cfg)[0]
    task = GANTask(cfg, trainer_acc)
    step, seen = task.gan_step, []
    run_g = step.run_G

    def recording(z, c, sync=True):
        seen.append((z.clone(), c.clone()))
        return run_g(z, c, sync)

    step.run_G = recording  # type: ignore[method-assign]
    assert task.train_step(BatchStream(task.dataloader), 0) is not None
    d_phase = seen[:cfg.train.grad_accum]
    return torch.cat([z for z, _ in d_phase]), torch.cat([c for _, c in d_phase])


def test_two_micro_batches_of_b_get_the_latents_and_labels_of_one_batch_of_2b(tmp_path):
    big_z, big_c = first_update_latents(tmp_path, "big", "train.batch_size=8")
    z, c = first_update_latents(tmp_path, "accum", "train.batch_size=4", "train.grad_accum=2")
    assert z.shape == big_z.shape == (8, 8) and torch.equal(z, big_z)
    assert torch.equal(c, big_c) and c.dtype == torch.int64 and set(c.tolist()) <= {0, 1, 2}
    assert z.device == big_z.device == torch.device("cpu")  # drawn where the accelerator computes


def test_a_noise_state_from_another_kind_of_generator_is_a_one_line_checkpoint_error(tmp_path):
    from gan.errors import CheckpointError

    cfg = tiny_cfg(tmp_path / "run", "data.cache=none")
    task = GANTask(cfg, make_accelerator(cfg)[0])
    with pytest.raises(CheckpointError, match=r"latent-noise RNG state \('noise'\) does not fit this run's cpu generator"):
        task.state.load_rng_tensors({"noise": torch.zeros(16, dtype=torch.uint8)})  # a CUDA generator's state size
    state = task.noise.get_state()
    first = task.gan_step.latents(3)[0]
    task.state.load_rng_tensors(task.state.rng_tensors() | {"noise": state})
    assert torch.equal(task.gan_step.latents(3)[0], first)
