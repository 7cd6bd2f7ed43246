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


def stalled(survivor: int, stopped: int) -> str:
    """The one line the surviving rank prints."""
    return (f"error: a collective waited more than {TIMEOUT_S}s (train.collective_timeout_s) for the other processes "
            f"(rank {survivor} waited for rank {stopped}); a process stopped or died")


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
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:  # ended
        return []


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


class Launch:
    """A launcher started in its own session, with every process it started (workers get sessions of their own)."""

    def __init__(self, cmd: list[str], out: Path) -> None:
        self.out, self.seen = out, set()
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=launch_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)

    def tree(self) -> list[int]:
        """The launcher's descendants now; each is remembered for :meth:`kill`."""
        found, todo = [], [self.proc.pid]
        while todo:
            kids = children(todo.pop())
            found += kids
            todo += kids
        self.seen.update(found)
        return found

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the launcher and all its processes (a whole "machine")."""
        for pid in [self.proc.pid, *self.tree()]:
            os.kill(pid, signum)

    def kill(self) -> None:
        """SIGKILL the launcher and every process it was seen to start (stopped ones included) that still runs this test's job."""
        self.tree()
        for pid in [self.proc.pid, *self.seen]:
            try:
                if str(self.out).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():  # never a reused pid
                    os.kill(pid, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass
        self.proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gloo_failures_that_lost_a_peer_become_one_line():
    timeout = RuntimeError("[/x/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 10000ms for recv operation to complete")
    assert str(collective_error(timeout, 0, 2, TIMEOUT_S)) == stalled(0, 1).removeprefix("error: ")
    assert "(rank 2 of 4 waited)" in str(collective_error(timeout, 2, 4, TIMEOUT_S))
    closed = RuntimeError("Application timeout caused pair closure")  # the operation after a timeout
    assert str(collective_error(closed, 1, 2, TIMEOUT_S)) == stalled(1, 0).removeprefix("error: ")
    gone = RuntimeError("[/x/third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]:4242")
    assert str(collective_error(gone, 1, 2, TIMEOUT_S)) == ("a collective lost its connection to the other processes "
                                                            "(rank 1 waited for rank 0); a process stopped or died")
    for other in (RuntimeError("CUDA out of memory"), RuntimeError("Timed out waiting for the data loader"), ValueError("Timed out waiting 10ms for recv operation")):
        assert collective_error(other, 0, 2, TIMEOUT_S) is None  # everything else keeps its traceback
    assert collective_error(timeout, 0, 1, TIMEOUT_S) is None  # one process has no peers


@cpu_only
def test_a_stopped_rank_ends_the_other_after_the_timeout_with_one_line(tmp_path):
    out, logs = tmp_path / "run", tmp_path / "logs"
    run = Launch([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--log-dir", str(logs),
                  "--redirects", "2", "train_gan.py", *GAN, "train.steps=100000", "checkpoint.every=100000", f"out_dir={out}"], out)
    try:
        wait_for(lambda: bool(run.tree()) and logged_steps(out) >= 2, "two training steps")
        survivor, stopped = rank_pid(run.proc.pid, 0), rank_pid(run.proc.pid, 1)
        os.kill(stopped, signal.SIGSTOP)
        start = time.monotonic()
        waited = wait_for(lambda: ended(survivor), "rank 0 to end", limit_s=TIMEOUT_S + 60) - start
        os.kill(stopped, signal.SIGKILL)  # torchrun would wait 30 s for a SIGTERM that a stopped process ignores
        _, launcher_err = run.proc.communicate(timeout=60)
    finally:
        run.kill()
    assert TIMEOUT_S - 1 < waited < TIMEOUT_S + 30, (waited, launcher_err[-3000:])
    assert rank_stderr(logs) == [stalled(0, 1)], launcher_err[-3000:]
    assert re.search(rf"exitcode\s*:\s*2 \(pid: {survivor}\)", launcher_err), launcher_err[-3000:]


def launch_machines(out: Path, logs: Path, *overrides: str) -> list[Launch]:
    """Two "machines" of one process each on this host, joined over loopback like two hosts would be."""
    accelerate = shutil.which("accelerate", path=str(REPO / ".venv" / "bin")) or shutil.which("accelerate")
    port = free_port()
    return [Launch([accelerate, "launch", "--config_file", "accelerate.yaml", "-q", "--multi_gpu", "--num_machines", "2",
                    "--machine_rank", str(m), "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
                    "--num_processes", "2", "--mixed_precision", "no", "--dynamo_backend", "no", "--tee", "2",
                    "--log_dir", str(logs / f"machine{m}"), "train_gan.py", *GAN, f"out_dir={out}", *overrides], out)
            for m in (0, 1)]


def finish(machines: list[Launch], limit_s: float = 240) -> list[tuple[int, str, str]]:
    """Exit code, stdout and stderr of each machine's launcher; everything is killed afterwards."""
    try:
        results = []
        for m in machines:
            o, e = m.proc.communicate(timeout=limit_s)
            results.append((m.proc.returncode, o, e))
        return results
    finally:
        for m in machines:
            m.kill()


def complete_checkpoints(out: Path) -> list[str]:
    """Checkpoint folders with both processes' state and the trainer state (the last file written)."""
    return sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")
                  if (p / "trainer_state.json").is_file() and (p / "random_states_1.pkl").is_file())


@cpu_only
def test_two_machines_train_checkpoint_resume_and_survive_a_stopped_machine(tmp_path):
    out, logs = tmp_path / "run", tmp_path / "logs"
    (rc0, out0, err0), (rc1, out1, err1) = finish(launch_machines(out, logs / "a", "train.steps=4", "checkpoint.every=2"))
    assert (rc0, rc1) == (0, 0), (err0 + err1)[-4000:]
    assert complete_checkpoints(out) == ["checkpoint-2", "checkpoint-4"]
    assert [m["step"] for m in metrics(out)] == [1, 2, 3, 4] and (out0 + out1).count("done: 4 steps") == 1  # one writer
    assert "2 processes" in out0 and out1 == ""

    # resume=latest on both machines, then machine 0 (launcher, worker and the rendezvous store it hosts) stops:
    # machine 1 ends after the timeout (the test of one machine above stops the other rank)
    machines = launch_machines(out, logs / "b", "train.steps=100000", "checkpoint.every=2", "resume=latest")
    try:
        wait_for(lambda: bool(machines[0].tree()) and logged_steps(out) >= 7, "checkpoint-6 and one step more")
        machines[0].signal(signal.SIGSTOP)
        start = time.monotonic()
        machines[1].proc.wait(timeout=TIMEOUT_S + 60)
        waited = time.monotonic() - start
    finally:
        machines[0].kill()  # a stopped launcher never ends by itself
        (_, out0, _), (rc1, _, err1) = finish(machines)
    assert "resumed from" in out0 and "checkpoint-4 at step 4" in out0
    assert TIMEOUT_S - 1 < waited < TIMEOUT_S + 30, waited
    assert rc1 != 0 and rank_stderr(logs / "b" / "machine1") == [stalled(1, 0)], err1[-3000:]
    steps = [m["step"] for m in metrics(out)]
    assert steps == list(range(1, len(steps) + 1))  # steps 1-4, then the resumed ones, none twice
    assert "checkpoint-6" in complete_checkpoints(out)  # written before the stop, kept whole
