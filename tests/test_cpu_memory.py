"""A CPU run keeps freed tensor memory: after make_accelerator, reallocating a step's worth of large
tensors no longer page-faults them back in (gan/process/cpu_memory.py)."""
from __future__ import annotations

import subprocess
import sys

from test_rel_utils import REPO, env

# Eight 16 MiB tensors freed together leave 128 MiB free at the top of the heap, more than glibc's
# default trim threshold can ever be (it adapts up to 64 MiB, after what the process did before):
# by default the heap is trimmed (or the blocks unmapped) and every round faults the pages in again.
SCRIPT = """
import resource, sys, torch
from gan.config import load_config
from gan.generation.config import GANConfig
from gan.engine.setup import make_accelerator

def faults_per_round(rounds=4):
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        blocks = [torch.ones(4 * 1024 * 1024) for _ in range(8)]
        del blocks
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) / rounds

# glibc's documented defaults, fixed: left adaptive, they depend on what the process did before (in
# one full-suite run nothing was trimmed at all, and 'before' measured 0 faults).
import ctypes, ctypes.util
mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD
faults_per_round()  # the heap's first growth
before = faults_per_round()
make_accelerator(load_config(GANConfig, None, ["log.tracker=none", "out_dir=" + sys.argv[1]]))
faults_per_round()
print("faults", before, faults_per_round())
"""


def test_a_cpu_run_reuses_freed_tensor_memory_instead_of_faulting_it_in_again(tmp_path):
    script = tmp_path / "faults.py"
    script.write_text(SCRIPT)
    res = subprocess.run([sys.executable, str(script), str(tmp_path / "run")], cwd=REPO, env=dict(env(), PYTHONPATH=str(REPO)),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    before, after = (float(v) for v in res.stdout.split("faults ")[1].split())
    pages = 8 * 16 * 1024 * 1024 // 4096  # 32,768 pages of 4 KiB per round
    assert before > 0.5 * pages  # glibc's defaults: the freed blocks go back to the OS
    assert after < 0.02 * pages  # kept in the process, reused without faults
