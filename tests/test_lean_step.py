"""The lean training step: losses stay on the device and are read back at log steps, all at once."""
from __future__ import annotations

import torch

from gan.engine.stats import to_host
from test_rel_utils import metrics, train


def test_to_host_turns_tensors_and_numbers_into_floats_in_order():
    rows = [{"step": 1, "a": torch.tensor(0.5), "b": 2.0}, {"step": 2, "a": torch.tensor([1.25]), "b": torch.tensor(-3.0, dtype=torch.bfloat16)}]
    assert to_host(rows) == [{"step": 1.0, "a": 0.5, "b": 2.0}, {"step": 2.0, "a": 1.25, "b": -3.0}]
    assert to_host([]) == []


def test_the_step_returns_device_tensors(tmp_path):
    from gan.engine.setup import make_accelerator
    from gan.engine.trainer import Trainer, TrainerSettings
    from gan.generation.task import GANTask
    from test_rel_utils import tiny_cfg

    cfg = tiny_cfg(tmp_path / "run")
    acc, logger = make_accelerator(cfg)
    task = GANTask(cfg, acc)
    stats = task.train_step(Trainer(TrainerSettings.of(cfg), task, acc, logger).batches, 0)
    assert all(torch.is_tensor(stats[k]) and stats[k].dim() == 0 for k in ("d_loss", "g_loss", "d_real", "d_fake"))


def test_reading_losses_at_log_steps_logs_the_same_values_as_every_step(tmp_path):
    # log.every=3 over 7 steps with checkpoints at 2 and 4: rows are flushed at log steps, before each
    # checkpoint and at the end, so the log holds every step, equal to a run that reads every step.
    assert train(tmp_path / "every", "train.steps=7", "log.every=1", "checkpoint.every=2") == 0
    assert train(tmp_path / "lean", "train.steps=7", "log.every=3", "checkpoint.every=2") == 0
    lean, every = metrics(tmp_path / "lean"), metrics(tmp_path / "every")
    assert [r["step"] for r in lean] == list(range(1, 8))
    assert lean == every


def test_optimizers_use_the_fused_kernel_on_cpu(tmp_path):
    from gan.engine.optim import fused_optimizer
    from gan.engine.setup import make_accelerator
    from gan.generation.task import GANTask
    from test_rel_utils import tiny_cfg

    assert fused_optimizer("cpu") == {"fused": True} and fused_optimizer("cuda:1") == {"fused": True}
    assert fused_optimizer("mps") == {}
    cfg = tiny_cfg(tmp_path / "run")
    task = GANTask(cfg, make_accelerator(cfg)[0])
    assert task.opt_g.defaults["fused"] and task.opt_d.defaults["fused"]


def test_a_decoded_dataset_is_batched_without_loader_workers(tmp_path):
    from PIL import Image

    from gan.engine.setup import make_accelerator
    from gan.generation.task import GANTask
    from test_rel_utils import tiny_cfg

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(8):
        Image.new("RGB", (20, 20), (30 * i, 0, 0)).save(folder / f"{i}.png")
    common = ["data.name=image_folder", f"data.root={folder}", "data.num_workers=2", f"data.cache_dir={tmp_path / 'c'}"]
    cached = tiny_cfg(tmp_path / "cached", *common)
    assert GANTask(cached, make_accelerator(cached)[0]).dataloader.num_workers == 0
    plain = tiny_cfg(tmp_path / "plain", *common, "data.cache=none")
    assert GANTask(plain, make_accelerator(plain)[0]).dataloader.num_workers == 2
