"""One optimizer update over accumulated micro-batches, shared by the D phase, the G phase and segmentation.

:func:`optimizer_update` is the scaffold every update follows: remember the buffers (for a rejected
update), zero the gradients, run each micro-batch (the caller's forward and loss) and backpropagate
its share of the loss, check the loss and gradients on every process, then step the optimizer.
:func:`sync_context` skips the DDP gradient all-reduce on all but the last micro-batch.
"""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterable

import torch
from accelerate import Accelerator
from torch import nn

from .guards import StepGuard


def sync_context(accelerator: Accelerator, model: nn.Module, sync: bool) -> ContextManager:
    """``accelerator.no_sync(model)`` unless ``sync``: gradients are then all-reduced only where it is True."""
    return contextlib.nullcontext() if sync else accelerator.no_sync(model)


def is_last_micro(micro: int, grad_accum: int) -> bool:
    return micro == grad_accum - 1


def optimizer_update(guard: StepGuard, optimizer: torch.optim.Optimizer, params: Iterable[torch.Tensor], accum: int,
                     micro_loss: Callable[[int, bool], torch.Tensor], what: str, step: int,
                     before_apply: Callable[[], None] | None = None) -> torch.Tensor | None:
    """One update of ``optimizer`` from ``accum`` micro-batches; the mean loss (detached), or None when rejected.

    Args:
        guard: checks the update and restores its modules' buffers when it is rejected.
        optimizer: what is stepped.
        params: the parameters whose gradients are checked (those of ``optimizer``).
        accum: micro-batches of the update (``train.grad_accum``).
        micro_loss: ``micro_loss(i, sync)`` runs the forward of micro-batch ``i`` and returns its loss;
            ``sync`` is True for the last one only: the forward of the updated model must run under
            :func:`sync_context` with it, so that only the last backward all-reduces the gradients.
            Each loss is backpropagated divided by ``accum``.
        what: names the loss in the error of a non-finite update (``discriminator loss``, ...).
        step: the step counter, for that error.
        before_apply: called after the check and before the optimizer step (e.g. to set learning rates).
    """
    guard.begin()
    optimizer.zero_grad(set_to_none=True)
    total = torch.zeros((), device=guard.acc.device)
    for micro in range(accum):
        loss = micro_loss(micro, is_last_micro(micro, accum))
        guard.acc.backward(loss / accum)
        total += loss.detach() / accum
    if not guard.check(optimizer, params, total, what, step):
        return None
    if before_apply is not None:
        before_apply()
    if not guard.apply(optimizer):  # fp16 overflow: the grad scaler skipped the step
        return None
    return total
