"""The engine's one update helper (D phase, G phase and segmentation) and the per-process random streams."""
from __future__ import annotations

import torch
from accelerate import Accelerator
from torch import nn

from gan.engine.streams import STREAM_OFFSETS, process_stream, stream_seed
from gan.engine.update import StepGuard, optimizer_update

X = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # micro-batch i is row i


def setup() -> tuple[nn.Linear, torch.optim.Optimizer, StepGuard]:
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0]]))
    return model, torch.optim.SGD(model.parameters(), lr=1.0), StepGuard(Accelerator(cpu=True), [model], "skip")


def test_two_micro_batches_make_one_update_with_the_mean_loss_and_gradient() -> None:
    model, opt, guard = setup()
    syncs, applied = [], []

    def micro_loss(i: int, sync: bool) -> torch.Tensor:
        syncs.append(sync)
        return model(X[i:i + 1]).pow(2).sum()  # (w . x)^2: 1 and 4, gradients (2, 0) and (0, 4)

    total = optimizer_update(guard, opt, model.parameters(), 2, micro_loss, "test loss", 0,
                             before_apply=lambda: applied.append(1))
    assert float(total) == 2.5 and syncs == [False, True] and applied == [1]
    assert model.weight.tolist() == [[0.0, 0.0]]  # w - 1.0 * mean gradient (1, 2)


def test_a_non_finite_micro_batch_rejects_the_whole_update() -> None:
    model, opt, guard = setup()
    applied = []

    def micro_loss(i: int, sync: bool) -> torch.Tensor:
        loss = model(X[i:i + 1]).pow(2).sum()
        return loss * float("nan") if i == 1 else loss

    total = optimizer_update(guard, opt, model.parameters(), 2, micro_loss, "test loss", 0,
                             before_apply=lambda: applied.append(1))
    assert total is None
    assert model.weight.tolist() == [[1.0, 2.0]] and applied == [] and model.weight.grad is None


def test_streams_differ_by_process_and_name_and_repeat_for_the_same_ones() -> None:
    seeds = {(seed, rank, name): stream_seed(seed, rank, name)
             for seed in range(4) for rank in range(8) for name in STREAM_OFFSETS}
    assert len(set(seeds.values())) == len(seeds)
    assert stream_seed(5, 1, "latents") == 5 + 2 * 1_000_003  # the latent stream of process 1 (as before the helper)
    a, b = process_stream(0, 1, "augment"), process_stream(0, 1, "augment")
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    first, second = process_stream(0, 0, "augment"), process_stream(0, 1, "augment")
    assert not torch.equal(torch.rand(3, generator=first), torch.rand(3, generator=second))
