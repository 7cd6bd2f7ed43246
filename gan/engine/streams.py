"""Per-process random streams: every random generator a job owns is seeded here, from ``train.seed``,
the process index and the stream's name.

Each stream has its own offset (:data:`STREAM_OFFSETS`, distinct primes): process ``rank`` of stream
``name`` starts from ``seed + offset * (rank + 1)``, so processes and streams never share a seed, and
a run's streams are a pure function of its seed and process count. (The global torch RNG, seeded by
``set_seed(train.seed)`` on every process, is not one of them: it initialises the weights alike.)
"""
from __future__ import annotations

import torch

STREAM_OFFSETS = {
    "latents": 1_000_003,  # GAN: latent noise and fake labels of the training step
    "augment": 999_983,  # GAN: DiffAugment of D's inputs
    "seg_augment": 7_919,  # segmentation: joint image/mask augmentation
}


def stream_seed(seed: int, rank: int, name: str) -> int:
    """The seed of stream ``name`` on process ``rank``."""
    return seed + STREAM_OFFSETS[name] * (rank + 1)


def process_stream(seed: int, rank: int, name: str, device: str | torch.device = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded with :func:`stream_seed`."""
    return torch.Generator(device=device).manual_seed(stream_seed(seed, rank, name))
