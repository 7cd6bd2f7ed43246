"""Exponential moving average of a model's weights (the generator used for every sample and metric)."""
from __future__ import annotations

import copy

import torch
from torch import nn

from .state import Stateful, Tensors

KEY = "ema"  # prefix of its checkpoint tensors


class EMA(Stateful):
    """Keeps ``shadow``, an averaged copy of ``model``.

    The decay warms up as ``min(decay, (1 + t) / (10 + t))`` so that short runs are not dominated by
    the initial weights; before ``start`` steps the shadow just copies the model. Buffers (BatchNorm
    statistics) are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, start: int = 0) -> None:
        self.decay, self.start = decay, start
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)
        self.num_updates = 0

    def current_decay(self, step: int) -> float:
        if step < self.start:
            return 0.0
        t = step - self.start
        return min(self.decay, (1 + t) / (10 + t))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = self.current_decay(step)
        for s, p in zip(self.shadow.parameters(), model.parameters()):
            s.lerp_(p.detach().to(s.dtype), 1.0 - decay)
        for s, b in zip(self.shadow.buffers(), model.buffers()):
            s.copy_(b)
        self.num_updates += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().contiguous() for k, v in self.shadow.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.shadow.load_state_dict(state)

    def state_tensors(self) -> Tensors:
        return {f"{KEY}.{k}": v for k, v in self.state_dict().items()}

    def load_state_tensors(self, tensors: Tensors) -> None:
        prefix = f"{KEY}."
        self.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
