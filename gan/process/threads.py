"""CPU thread count of a run (``train.cpu_threads``).

``accelerate launch`` with no ``accelerate config`` file on a CPU-only machine exports
``OMP_NUM_THREADS=1``, so a default launch trains on one core. ``auto`` gives each local process
an equal share of the physical cores instead; an integer sets the count as given. On a GPU the
thread count is left alone (the CPU only feeds the device there).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..config import valid_cpu_threads
from ..errors import ConfigError


def usable_cpus() -> set[int]:
    """The logical CPUs this process may run on."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def physical_cores(cpuinfo: str | Path = "/proc/cpuinfo") -> int:
    """Physical cores among the usable CPUs: unique ``(physical id, core id)`` pairs of ``/proc/cpuinfo``.

    Hyper-threads share a core's arithmetic units, so two threads on one core are rarely faster
    than one. Without a readable ``/proc/cpuinfo`` (macOS, Windows) the usable logical CPUs count.
    """
    allowed = usable_cpus()
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return max(1, len(allowed))
    cores: set[tuple[str, str]] = set()
    for block in text.split("\n\n"):
        fields = dict(
            (k.strip(), v.strip()) for k, v in (line.split(":", 1) for line in block.splitlines() if ":" in line)
        )
        if "processor" not in fields or not fields["processor"].isdigit():
            continue
        if int(fields["processor"]) in allowed:
            cores.add((fields.get("physical id", "0"), fields.get("core id", fields["processor"])))
    return max(1, len(cores) if cores else len(allowed))


def local_process_count(num_processes: int) -> int:
    """Processes of this run on this machine: ``LOCAL_WORLD_SIZE`` (set by torchrun) or all of them."""
    value = os.environ.get("LOCAL_WORLD_SIZE", "")
    return int(value) if value.isdigit() and int(value) >= 1 else max(1, num_processes)


def resolve_cpu_threads(setting: str | int, local_processes: int, cores: int | None = None) -> int:
    """Threads per process for ``setting``: ``auto`` = physical cores // local processes (at least 1)."""
    if not valid_cpu_threads(setting):
        raise ConfigError(f"config key 'train.cpu_threads': got {setting!r}, expected 'auto' or a positive integer")
    if str(setting).strip() != "auto":
        return int(str(setting).strip())
    cores = physical_cores() if cores is None else cores
    return max(1, cores // max(1, local_processes))


def apply_cpu_threads(accelerator: Any, setting: str | int, precision: str = "no") -> int | None:
    """Set torch's intra-op threads on a CPU run and print the run's start-up line (main process).

    Returns the thread count set, or None on an accelerator device (left as it is).
    """
    procs = accelerator.num_processes
    threads = None
    if accelerator.device.type == "cpu":
        threads = resolve_cpu_threads(setting, local_process_count(procs))
        torch.set_num_threads(threads)
    if accelerator.is_main_process:
        plural = "es" if procs > 1 else ""
        print(f"device {accelerator.device.type}, {torch.get_num_threads()} threads, {procs} process{plural}, "
              f"precision {'fp32' if precision == 'no' else precision}", flush=True)
    return threads
