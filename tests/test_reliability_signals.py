"""Stop signals: SIGTERM/SIGINT to the whole process group with dataloader workers, a second signal exits at
once, and collectives time out on a stalled rank."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gan.process.signals import REPEAT_AFTER_S
from test_rel_utils import REPO, env, metrics, train

GROUP_SCRIPT = """
import pathlib, sys
sys.path.insert(0, "tests")
from test_rel_utils import train
sys.exit(train(pathlib.Path(sys.argv[1]), "train.steps=100000", "checkpoint.every=100000", "data.num_workers=2"))
"""

# Step 2's hook announces itself, then sleeps (a slow step; the main thread waits in C like in a collective).
SLOW_SCRIPT = """
import pathlib, sys, time
sys.path.insert(0, "tests")
from test_rel_utils import tiny_cfg
from gan.engine.trainer import Hook
from gan.generation.train import run_training
out = pathlib.Path(sys.argv[1])
def slow(step):
    if step == 2:
        (out / "in-slow-step").touch()
        time.sleep(6)
sys.exit(run_training(tiny_cfg(out, "train.steps=3", "checkpoint.every=100000"), [Hook(1, slow)]))
"""


def start(script: str, out) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, str(out)], cwd=REPO, env=env(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen, ready, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(proc.communicate()[1][-3000:])
        time.sleep(0.05)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_the_process_group_with_dataloader_workers_saves_and_resumes(tmp_path, sig, code):
    out = tmp_path / "run"
    proc = start(GROUP_SCRIPT, out)
    wait_for(proc, lambda: (out / "metrics.jsonl").exists() and len(metrics(out)) >= 2)
    os.killpg(proc.pid, sig)  # main process and both workers, like `kill -TERM -- -PGID` or Ctrl-C
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr[-3000:]
    assert "DataLoader worker" not in stderr
    step = metrics(out)[-1]["step"]
    assert f"preempted: saved checkpoint at step {step}" in stdout
    assert (out / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").is_file()
    assert not (out / ".lock").exists()  # released on the graceful exit

    assert train(out, "resume=latest", f"train.steps={step + 2}", "checkpoint.every=100000", "data.num_workers=2") == 0
    assert [m["step"] for m in metrics(out)] == list(range(1, step + 3))


def test_a_second_sigterm_exits_at_once_without_saving(tmp_path):
    out = tmp_path / "run"
    proc = start(SLOW_SCRIPT, out)
    wait_for(proc, lambda: (out / "in-slow-step").exists())
    proc.send_signal(signal.SIGTERM)
    time.sleep(REPEAT_AFTER_S + 0.3)
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    stdout, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 3, "the second SIGTERM waited for the slow step"
    assert proc.returncode == 143, stderr[-3000:]
    assert "second SIGTERM: exiting at once without saving" in stderr
    assert not list(out.glob("checkpoints/checkpoint-*"))
    assert "preempted" not in stdout


def test_a_repeated_signal_forwarded_at_once_still_saves(tmp_path):
    """A launcher forwards a group signal to its children: the copy arriving together is the same request."""
    out = tmp_path / "run"
    proc = start(SLOW_SCRIPT, out)
    wait_for(proc, lambda: (out / "in-slow-step").exists())
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-3000:]
    assert "preempted: saved checkpoint at step 2" in stdout
    assert (out / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()


STALL_SCRIPT = """
import json, sys, time
from pathlib import Path
from gan.config import load_config
from gan.generation.config import GANConfig
from gan.engine.setup import make_accelerator
out = Path(sys.argv[1])
cfg = load_config(GANConfig, None, [f"out_dir={out}", "log.tracker=none", "train.collective_timeout_s=3"])
acc, _ = make_accelerator(cfg)
if acc.process_index == 1:  # a stalled rank: never reaches the barrier
    time.sleep(9)
    sys.exit(0)
start = time.monotonic()
try:
    acc.wait_for_everyone()
    error = ""
except Exception as err:
    error = str(err).splitlines()[0]
(out / "rank0.json").write_text(json.dumps({"seconds": time.monotonic() - start, "error": error}))
"""


def test_a_collective_waiting_for_a_stalled_rank_times_out(tmp_path):
    script, out = tmp_path / "stall.py", tmp_path / "run"
    script.write_text(STALL_SCRIPT)
    out.mkdir()
    e = dict(env(), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))  # the script lives outside the repo
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script), str(out)],
                         cwd=REPO, env=e, capture_output=True, text=True, timeout=120)
    report = json.loads((out / "rank0.json").read_text())
    assert report["error"], (res.stdout + res.stderr)[-3000:]
    assert 2.5 < report["seconds"] < 7, report  # the 3 s timeout, not the stalled rank's 9 s


EXIT_SCRIPT = """
import sys, torch
from gan.data.loaders import train_loader
loader = train_loader(torch.utils.data.TensorDataset(torch.arange(64.0)), 4, 2)
it = iter(loader)
next(it)
sys.modules["__main__"].kept = [it, loader]  # workers alive until interpreter exit (no loader clean-up)
print("exiting", flush=True)
"""


def test_workers_ignoring_stop_signals_still_end_with_the_main_process():
    """multiprocessing ends leftover workers with SIGTERM at exit: that one must still work."""
    res = subprocess.run([sys.executable, "-c", EXIT_SCRIPT], cwd=REPO, env=env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout == "exiting\n", res.stderr[-2000:]
