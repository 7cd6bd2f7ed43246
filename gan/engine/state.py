"""The registry of a task's stateful objects: what a checkpoint saves and restores besides the prepared
models and optimizers (which Accelerate saves).

Each object (the EMA, the augmentation, the best-export keeper, a random stream) names its own keys,
distinct across the registry; the registry merges them into one checkpoint file of tensors that are
the same on every process (saved by the main process) and one file per process of RNG states, and
hands each object the whole file back on resume. A task lists its objects once; nothing merges or
splits their states by hand.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..errors import CheckpointError

Tensors = dict[str, torch.Tensor]


class Stateful:
    """An object with checkpointed state; every method may be left out (nothing to save)."""

    def state_tensors(self) -> Tensors:
        """Tensors that are the same on every process (saved once)."""
        return {}

    def load_state_tensors(self, tensors: Tensors) -> None:
        """Restore from the checkpoint's tensors (all of them: each object reads its own keys)."""

    def rng_tensors(self) -> Tensors:
        """This process's random-generator states."""
        return {}

    def load_rng_tensors(self, tensors: Tensors) -> None:
        """Restore from this process's RNG file (all of it)."""


class RandomStream(Stateful):
    """A ``torch.Generator`` of this process saved as RNG state ``key`` (``what`` names it in errors)."""

    def __init__(self, generator: torch.Generator, key: str, what: str) -> None:
        self.generator, self.key, self.what = generator, key, what

    def rng_tensors(self) -> Tensors:
        return {self.key: self.generator.get_state()}

    def load_rng_tensors(self, tensors: Tensors) -> None:
        if self.key not in tensors:
            raise CheckpointError(f"the checkpoint has no {self.what} ('{self.key}'); cannot resume exactly")
        try:
            self.generator.set_state(tensors[self.key])
        except RuntimeError:  # e.g. a CPU generator's state offered to a CUDA generator
            raise CheckpointError(f"the checkpoint's {self.what} ('{self.key}') does not fit this run's "
                                  f"{self.generator.device.type} generator (saved on another kind of device?); "
                                  "cannot resume exactly") from None


def _merged(parts: list[Tensors]) -> Tensors:
    out: Tensors = {}
    for part in parts:
        for key, value in part.items():
            if key in out:
                raise ValueError(f"two stateful objects save the same key {key!r}")
            out[key] = value
    return out


class StateRegistry:
    """The stateful objects of a task, saved and restored together by the trainer's checkpoints.

    ``after_load`` runs once the states are restored (e.g. to re-apply the configured learning rates
    over the optimizers' restored ones).
    """

    def __init__(self, objects: Sequence[Stateful], after_load: Callable[[], None] | None = None) -> None:
        self.objects, self.after_load = list(objects), after_load

    def state_tensors(self) -> Tensors:
        return _merged([obj.state_tensors() for obj in self.objects])

    def load_state_tensors(self, tensors: Tensors) -> None:
        for obj in self.objects:
            obj.load_state_tensors(tensors)
        if self.after_load is not None:
            self.after_load()

    def rng_tensors(self) -> Tensors:
        return _merged([obj.rng_tensors() for obj in self.objects])

    def load_rng_tensors(self, tensors: Tensors) -> None:
        for obj in self.objects:
            obj.load_rng_tensors(tensors)
