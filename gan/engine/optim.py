"""Optimizer options shared by the tasks.

PyTorch's Adam/AdamW default to a Python loop over the parameters on the CPU (``foreach`` only on
CUDA). The fused kernel does the whole update in one pass, several times faster for the DCGAN-64
pair on a CPU (``docs/benchmarks.md``, "Steady-state step, in process").
"""
from __future__ import annotations

from typing import Any

import torch

FUSED_DEVICES = ("cpu", "cuda")  # where torch's fused Adam/AdamW kernels exist


def fused_optimizer(device: torch.device | str) -> dict[str, Any]:
    """``{"fused": True}`` for an Adam/AdamW whose parameters live on ``device``, where a fused kernel exists."""
    return {"fused": True} if torch.device(device).type in FUSED_DEVICES else {}
