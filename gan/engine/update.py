"""One optimizer update over accumulated micro-batches, shared by the D phase, the G phase and segmentation.

:func:`optimizer_update` is the scaffold every update follows: remember the buffers (for a rejected
update), zero the gradients, run each micro-batch (the caller's forward and loss) and backpropagate
its share of the loss, check the loss and gradients on every process, then step the optimizer.
:class:`StepGuard` rejects an update whose loss or gradients are NaN/inf on any process (and then puts
back the BatchNorm statistics that the rejected forwards changed); :func:`sync_context` skips the DDP
gradient all-reduce on all but the last micro-batch.
"""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterable

import torch
from accelerate import Accelerator
from torch import nn

from ..errors import UserError


class NonFiniteError(UserError):
    """A NaN/inf loss or gradient met before an optimizer step."""


class StepGuard:
    """Checks a step before the optimizer applies it.

    Call :meth:`begin` before the forwards of an update, then :meth:`check` after its backwards and
    :meth:`apply` to step the optimizer. A rejected step leaves weights, optimizer state and the
    buffers of ``modules`` exactly as :meth:`begin` found them.

    Args:
        accelerator: the run's accelerator (the check is summed over processes, so all agree).
        modules: unwrapped modules whose buffers (BatchNorm statistics) a rejected step must restore.
        policy: ``error`` raises :class:`NonFiniteError`; ``skip`` returns False (step not counted).
        hint: what the error message suggests besides ``train.on_nonfinite=skip``.
    """

    def __init__(self, accelerator: Accelerator, modules: Iterable[nn.Module], policy: str,
                 hint: str = "lower the learning rates") -> None:
        self.acc, self.modules, self.policy, self.hint = accelerator, list(modules), policy, hint
        self._saved: list[torch.Tensor] = []

    def _buffers(self) -> list[torch.Tensor]:
        return [b for m in self.modules for b in m.buffers()]

    def begin(self) -> None:
        """Remember the buffers from before this update's forwards."""
        self._saved = [b.detach().clone() for b in self._buffers()]

    @torch.no_grad()
    def _restore(self) -> None:
        for buffer, saved in zip(self._buffers(), self._saved):
            buffer.copy_(saved)

    def check(self, optimizer: torch.optim.Optimizer, params: Iterable[torch.Tensor], loss: torch.Tensor, what: str,
              step: int) -> bool:
        """True when ``loss`` and every gradient of ``params`` are finite on all processes.

        Otherwise the gradients are dropped, the buffers restored, and the policy applies.
        With fp16 the grad scaler owns overflowing gradients, so only the loss is checked here.
        """
        bad = (~torch.isfinite(loss.detach())).float().sum()
        grads = [p.grad.detach().abs().amax() for p in params if p.grad is not None]
        if self.acc.scaler is None and grads:
            bad = bad + (~torch.isfinite(torch.stack(grads))).float().sum()
        if self.acc.num_processes > 1:
            bad = self.acc.reduce(bad, reduction="sum")
        if float(bad) == 0:  # the one host read of a step
            return True
        optimizer.zero_grad(set_to_none=True)
        self._restore()
        if self.policy == "error":
            # "here": DDP averages gradients, so a NaN on one process reaches them all; the loss stays local
            raise NonFiniteError(
                f"non-finite {what} or gradient at step {step + 1} ({what} here: {float(loss.detach()):.4g}); "
                f"weights left unchanged (set train.on_nonfinite=skip to skip such steps, or {self.hint})"
            )
        return False

    def apply(self, optimizer: torch.optim.Optimizer) -> bool:
        """Step the optimizer; False when the fp16 grad scaler skipped it after an overflow."""
        optimizer.step()
        return not self.acc.optimizer_step_was_skipped


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
