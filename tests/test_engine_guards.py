"""The engine's step guard, shared by the GAN and segmentation tasks: a rejected step changes nothing,
BatchNorm statistics included."""
from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator
from torch import nn

from gan.engine.data_stream import BatchStream
from gan.engine.update import NonFiniteError, StepGuard
from gan.seg.config import load_seg_config
from gan.seg.task import SegTask

TINY_SEG = [
    "data.name=shapes", "data.resolution=16", "data.shapes_size=32", "data.shapes_val_size=8", "model.ngf=8",
    "model.ndf=8", "model.max_channels=16", "train.batch_size=8", "log.tracker=none", "data.augment=hflip",
]


def bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))


@pytest.mark.parametrize("policy", ["skip", "error"])
def test_a_rejected_step_restores_buffers_and_drops_gradients(policy):
    model = bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    guard = StepGuard(Accelerator(cpu=True), [model], policy)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    guard.begin()
    loss = model(torch.randn(4, 1, 5, 5)).mean() * float("nan")
    loss.backward()
    assert not torch.equal(model[1].running_mean, weights["1.running_mean"])  # the forward moved the statistics
    if policy == "skip":
        assert guard.check(opt, model.parameters(), loss, "test loss", 6) is False
    else:
        with pytest.raises(NonFiniteError, match=r"^non-finite test loss or gradient at step 7 \(test loss here: nan\); weights left unchanged"):
            guard.check(opt, model.parameters(), loss, "test loss", 6)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())


def test_a_finite_step_is_applied():
    model = bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    guard = StepGuard(Accelerator(cpu=True), [model], "error")
    before = model[0].weight.detach().clone()
    guard.begin()
    loss = model(torch.randn(4, 1, 5, 5)).pow(2).mean()
    loss.backward()
    assert guard.check(opt, model.parameters(), loss, "test loss", 0) and guard.apply(opt)
    assert torch.allclose(model[0].weight, before - 0.1 * model[0].weight.grad)


def test_segmentation_step_rejected_for_nan_keeps_weights_and_batchnorm_statistics(tmp_path):
    task = SegTask(load_seg_config(None, [*TINY_SEG, f"out_dir={tmp_path}", "train.on_nonfinite=skip"]), Accelerator(cpu=True))
    assert isinstance(task.guard, StepGuard) and task.guard.modules == [task.raw]
    real_loss = task.loss

    def nan_loss(logits, masks):
        loss, parts = real_loss(logits, masks)
        return loss * float("nan"), parts

    task.loss = nan_loss
    before = {k: v.clone() for k, v in task.raw.state_dict().items()}
    assert task.train_step(BatchStream(task.dataloader), 0) is None
    changed = [k for k, v in task.raw.state_dict().items() if not torch.equal(v, before[k])]
    assert changed == []  # before the shared guard, every BatchNorm running_mean/var/num_batches_tracked was listed
    assert all(p.grad is None for p in task.raw.parameters())
