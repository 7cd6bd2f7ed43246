"""Real multi-process CPU runs (gloo, loopback): a stopped rank ends the others with one line, and two
"machines" on this host (accelerate launch --num_machines 2) train, checkpoint and resume as one."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import torch

from gan.engine.distributed import collective_error
from test_rel_utils import REPO, env, metrics

TIMEOUT_S = 10  # train.collective_timeout_s of these runs
GAN = ["--config", "tests/defaults.yaml", "data.name=shapes", "data.resolution=16", "data.shapes_size=32", "model.nz=8",
       "model.ngf=8", "model.ndf=8", "train.batch_size=8", "log.tracker=none", "log.every=1", "log.sample_every=1000",
       "log.num_samples=4", f"train.collective_timeout_s={TIMEOUT_S}"]
# The one line the surviving rank prints (rank 0 waited for the stopped rank 1).
STALLED = (f"error: a collective waited more than {TIMEOUT_S}s (train.collective_timeout_s) for the other processes "
           "(rank 0 waited for rank 1); a process stopped or died")

cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="CPU processes under gloo; GPUs would use NCCL")


def launch_env() -> dict[str, str]:
    return dict(env(), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))


def wait_for(condition: Callable[[], bool], what: str, limit_s: float = 150) -> float:
    """Poll ``condition`` until it holds; returns the time it held (monotonic); fails after ``limit_s``."""
    end = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        time.sleep(0.2)
    return time.monotonic()


def logged_steps(run: Path) -> int:
    try:
        return len(metrics(run))
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or a line being written
        return 0


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def rank_pid(launcher: int, rank: int) -> int:
    """The pid of the worker with global ``rank`` among the launcher's children (its RANK variable)."""
    for child in children(launcher):
        if f"RANK={rank}".encode() in Path(f"/proc/{child}/environ").read_bytes().split(b"\0"):
            return child
    raise AssertionError(f"no child of {launcher} has RANK={rank}")


def ended(pid: int) -> bool:
    """True once ``pid`` has exited (gone, or a zombie its launcher has not reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def rank_stderr(log_dir: Path, local_rank: int = 0) -> list[str]:
    """The lines a worker wrote to stderr (torchrun's per-rank log), progress bars left out."""
    (path,) = log_dir.glob(f"*/attempt_0/{local_rank}/stderr.log")
    return [line for line in path.read_text().splitlines() if line.strip() and not re.match(r"(train|data cache: \w+):", line)]


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the launcher's whole session (launcher and workers, stopped ones included)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gloo_failures_that_lost_a_peer_become_one_line():
    timeout = RuntimeError("[/x/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 10000ms for recv operation to complete")
    assert str(collective_error(timeout, 0, 2, TIMEOUT_S)) == STALLED.removeprefix("error: ")
    assert "(rank 2 of 4 waited)" in str(collective_error(timeout, 2, 4, TIMEOUT_S))
    gone = RuntimeError("[/x/third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]:4242")
    assert str(collective_error(gone, 1, 2, TIMEOUT_S)) == ("a collective lost its connection to the other processes "
                                                            "(rank 1 waited for rank 0); a process stopped or died")
    for other in (RuntimeError("CUDA out of memory"), RuntimeError("Timed out waiting for the data loader"), ValueError("gloo: Timed out waiting")):
        assert collective_error(other, 0, 2, TIMEOUT_S) is None  # everything else keeps its traceback


@cpu_only
def test_a_stopped_rank_ends_the_other_after_the_timeout_with_one_line(tmp_path):
    out, logs = tmp_path / "run", tmp_path / "logs"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--log-dir", str(logs),
           "--redirects", "2", "train_gan.py", *GAN, "train.steps=100000", "checkpoint.every=100000", f"out_dir={out}"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=launch_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        wait_for(lambda: logged_steps(out) >= 2, "two training steps")
        survivor, stopped = rank_pid(proc.pid, 0), rank_pid(proc.pid, 1)
        os.kill(stopped, signal.SIGSTOP)
        start = time.monotonic()
        waited = wait_for(lambda: ended(survivor), "rank 0 to end", limit_s=TIMEOUT_S + 60) - start
        os.kill(stopped, signal.SIGKILL)  # torchrun would wait 30 s for a SIGTERM that a stopped process ignores
        _, launcher_err = proc.communicate(timeout=60)
    finally:
        kill_group(proc)
    assert TIMEOUT_S - 1 < waited < TIMEOUT_S + 30, waited
    assert rank_stderr(logs) == [STALLED]
    assert re.search(rf"exitcode\s*:\s*2 \(pid: {survivor}\)", launcher_err), launcher_err[-3000:]
