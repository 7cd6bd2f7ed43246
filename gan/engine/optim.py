"""Optimizer options shared by the tasks.

PyTorch's Adam/AdamW default to a Python loop over the parameters on the CPU (``foreach`` only on
CUDA). The fused kernel does the whole update in one pass: for the DCGAN-64 pair on a 2-core CPU
the update took ~70 ms instead of ~430 ms (``benchmarks/train_throughput.py`` measures the step).
"""
from __future__ import annotations

from typing import Any

import torch

FUSED_DEVICES = ("cpu", "cuda")  # where torch's fused Adam/AdamW kernels exist


def fused_optimizer(device: torch.device | str) -> dict[str, Any]:
    """``{"fused": True}`` for an Adam/AdamW whose parameters live on ``device``, where a fused kernel exists."""
    return {"fused": True} if torch.device(device).type in FUSED_DEVICES else {}
