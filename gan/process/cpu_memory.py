"""Keep freed CPU tensor memory in the process, so that a training step does not page-fault it back in.

glibc's malloc serves large blocks (from 128 KiB up, growing adaptively) with fresh ``mmap`` calls and
returns them to the OS on free. A DCGAN-64 step on a CPU frees and reallocates dozens of 1-16 MiB
activations and gradients each time, and every reuse then page-faults and zeroes them again. Blocks
up to 32 MiB (glibc's largest ``mmap`` threshold on 64-bit) are served from the heap, and the heap is
trimmed only past 1 GiB of free space at its top: nearly all of those page faults go, and the step
gets faster (``docs/benchmarks.md``, "Steady-state step, in process"). The cost: the process keeps
its peak memory instead of handing freed blocks back, as jemalloc and tcmalloc do.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 1024 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Apply the malloc settings above to this process; False where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; both are tried, so that one refused setting leaves the other in place.
    mmap_ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    trim_ok = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    return mmap_ok and trim_ok
