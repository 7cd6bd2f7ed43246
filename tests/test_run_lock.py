"""The run directory's lock is atomic: one winner among simultaneous runs, and a dead run's lock is taken over."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from gan.engine import rundir
from gan.engine.rundir import LOCK_FILE, RunDirLocked, acquire_lock, release_lock

RACERS, ROUNDS = 6, 12


def dead_pid() -> int:
    """The pid of a process that has exited."""
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout)


def race(run_dir: Path, start, tried, done, results) -> None:
    """One racer: each round, try to take the lock together with the others; the winner holds it until all tried."""
    for round_ in range(ROUNDS):
        start.wait()
        try:
            acquire_lock(run_dir)
            won = True
        except RunDirLocked:
            won = False
        tried.wait()
        if won:
            release_lock(run_dir / LOCK_FILE)
        results.put((round_, won))
        done.wait()


def test_exactly_one_of_many_simultaneous_runs_takes_a_stale_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = rundir.pid_alive

    def slow_pid_alive(pid: int) -> bool:
        time.sleep(0.02)  # widens the window between deciding "stale" and taking over, where the old lock raced
        return real(pid)

    monkeypatch.setattr(rundir, "pid_alive", slow_pid_alive)  # inherited by the forked racers
    ctx = multiprocessing.get_context("fork")
    start, tried, done = (ctx.Barrier(RACERS + 1, timeout=60) for _ in range(3))
    results = ctx.Queue()
    procs = [ctx.Process(target=race, args=(tmp_path, start, tried, done, results)) for _ in range(RACERS)]
    for p in procs:
        p.start()
    stale = {"host": socket.gethostname(), "pid": dead_pid()}
    try:
        for _ in range(ROUNDS):
            (tmp_path / LOCK_FILE).write_text(json.dumps(stale))  # left by a run that died
            start.wait()
            tried.wait()
            done.wait()
    finally:
        for p in procs:
            p.join(60)
    wins = [0] * ROUNDS
    for _ in range(RACERS * ROUNDS):
        round_, won = results.get(timeout=10)
        wins[round_] += won
    assert wins == [1] * ROUNDS
    assert [p.exitcode for p in procs] == [0] * RACERS


HOLD = """
import sys, time
from pathlib import Path
from gan.engine.rundir import acquire_lock
acquire_lock(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(120)
"""


def test_a_live_run_keeps_the_lock_and_a_killed_one_loses_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirLocked) as err:
            acquire_lock(tmp_path)
        assert str(err.value) == (
            f"run directory '{tmp_path}' is in use by process {holder.pid} on host {socket.gethostname()} (lock file '{tmp_path / LOCK_FILE}'); "
            "wait for that run, use another out_dir, or delete the lock file if that run is gone"
        )
    finally:
        holder.send_signal(signal.SIGKILL)  # no clean-up: the lock file stays, the kernel drops the flock
        holder.wait()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == holder.pid
    lock = acquire_lock(tmp_path)
    assert f"note: taking over the stale lock '{lock}' of process {holder.pid} on {socket.gethostname()} (no longer running)" in capsys.readouterr().out
    assert json.loads(lock.read_text()) == {"host": socket.gethostname(), "pid": os.getpid()}
    with pytest.raises(RunDirLocked, match=f"in use by process {os.getpid()} on host"):
        acquire_lock(tmp_path)  # one lock per directory, also within one process
    release_lock(lock)
    assert not lock.exists()
