"""Mixed precision of a run (``train.mixed_precision``).

``auto`` (the default) picks bf16 autocast where the hardware computes in bf16 natively: a CUDA
GPU that supports it, or a CPU with the ``avx512_bf16`` / ``amx_bf16`` instructions (measured
~1.7-2.7x faster DCGAN steps on such an AMD EPYC, ``benchmarks/train_throughput.py``). Elsewhere it
is float32: bf16 emulated on a CPU without those instructions is slower than float32, and fp16
on a GPU needs a grad scaler that GAN users should choose knowingly.
"""
from __future__ import annotations

from pathlib import Path

import torch

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """Instruction-set flags of the first CPU in ``/proc/cpuinfo`` (empty where it cannot be read)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:  # macOS, Windows
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def resolve_precision(setting: str, device_type: str, cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The precision Accelerate is given: ``setting`` itself, or for ``auto`` what ``device_type`` runs fast."""
    if setting != "auto":
        return setting
    if device_type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    if device_type == "cpu":
        return "bf16" if cpu_flags(cpuinfo) & set(NATIVE_BF16_FLAGS) else "no"
    return "no"


def run_device_type(force_cpu: bool) -> str:
    """The device type the Accelerator will pick (it takes CUDA when present unless told ``cpu``)."""
    return "cuda" if torch.cuda.is_available() and not force_cpu else "cpu"
