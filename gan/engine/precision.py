"""Mixed precision of a run (``train.mixed_precision``).

``auto`` (the default) picks bf16 autocast where the hardware computes in bf16 natively: a CUDA
GPU that supports it, or a CPU with the ``avx512_bf16`` / ``amx_bf16`` instructions (faster DCGAN
steps there: ``docs/benchmarks.md``, "Steady-state step, in process"). Elsewhere it is float32: bf16
emulated on a CPU without those instructions is slower than float32 ("On a CPU without native
bf16"), and fp16 on a GPU needs a grad scaler that GAN users should choose knowingly.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from ..errors import ConfigError
from ..names import MIXED_PRECISION

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
LAUNCHER_ENV = "ACCELERATE_MIXED_PRECISION"  # what `accelerate launch` exports to the processes it starts
LAUNCHER_FLAG = "--mixed_precision"


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


def parent_command_line() -> list[str]:
    """The launching process's arguments up to this script's path (empty where they cannot be read)."""
    import psutil  # a dependency of accelerate

    try:
        parent = psutil.Process().parent()
        args = parent.cmdline() if parent is not None else []
    except (psutil.Error, OSError):
        return []
    script = sys.argv[0] if sys.argv else ""
    return args[: args.index(script)] if script in args else args


def launcher_precision(parent_args: list[str] | None = None) -> str | None:
    """The mixed precision ``accelerate launch`` was explicitly given for this process, or None.

    The launcher always exports ``ACCELERATE_MIXED_PRECISION``, ``no`` also when nothing was chosen
    (its default, and what ``accelerate config default`` writes). So ``fp16``/``bf16``/``fp8`` count
    as a choice (its ``--mixed_precision`` or its config file), ``no`` only when ``--mixed_precision``
    is on the launcher's command line (``parent_args``, read from the parent process by default).
    """
    value = os.environ.get(LAUNCHER_ENV, "").strip().lower()
    if not value:
        return None
    if value != "no":
        return value
    args = parent_command_line() if parent_args is None else parent_args
    given = any(a == LAUNCHER_FLAG or a.startswith(LAUNCHER_FLAG + "=") for a in args)
    return value if given else None


def run_precision(setting: str, device_type: str, launcher: str | None) -> str:
    """The run's precision: the config's ``train.mixed_precision``, or for ``auto`` the launcher's explicit choice.

    An explicit config value that contradicts the launcher's choice is refused rather than one of
    them being silently ignored.
    """
    if launcher is not None:
        if launcher not in MIXED_PRECISION:
            raise ConfigError(f"accelerate launch --mixed_precision {launcher}: expected one of "
                              f"{', '.join(p for p in MIXED_PRECISION if p != 'auto')}")
        if setting == "auto":
            return launcher
        if setting != launcher:
            raise ConfigError(f"config key 'train.mixed_precision' is {setting!r} but accelerate launch was given "
                              f"--mixed_precision {launcher} (flag or its config file): pass one of them, or the same value")
    return resolve_precision(setting, device_type)


def run_device_type(force_cpu: bool) -> str:
    """The device type the Accelerator will pick (it takes CUDA when present unless told ``cpu``)."""
    return "cuda" if torch.cuda.is_available() and not force_cpu else "cpu"
