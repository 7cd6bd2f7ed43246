"""train.cpu_threads: every physical core by default, shared between local processes, even under a
default `accelerate launch` (which exports OMP_NUM_THREADS=1)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gan.config import load_config
from gan.errors import ConfigError
from gan.generation.config import GANConfig
from gan.process import threads
from gan.process.threads import local_process_count, physical_cores, resolve_cpu_threads
from test_rel_utils import REPO, env

# Two sockets x two cores x two hyper-threads: logical CPUs 0-7, physical cores 4.
CPUINFO = "\n\n".join(
    f"processor\t: {cpu}\nphysical id\t: {cpu // 4}\ncore id\t\t: {cpu % 2}\nsiblings\t: 4" for cpu in range(8)
) + "\n"


def test_auto_divides_the_physical_cores_between_local_processes():
    assert resolve_cpu_threads("auto", 1, cores=8) == 8
    assert resolve_cpu_threads("auto", 3, cores=8) == 2  # rounded down: never more threads than cores
    assert resolve_cpu_threads("auto", 4, cores=2) == 1  # at least one
    assert resolve_cpu_threads("3", 2, cores=8) == 3 and resolve_cpu_threads(5, 1, cores=1) == 5  # as given
    with pytest.raises(ConfigError, match=r"^config key 'train.cpu_threads': got '0', expected 'auto' or a positive integer$"):
        resolve_cpu_threads("0", 1)


@pytest.mark.parametrize("value, message", [
    ("0", "got 0, expected 'auto' or a positive integer"), ("-2", "got -2, expected 'auto' or a positive integer"),
    ("many", "got 'many', expected 'auto' or int"), ("1.5", "got 1.5, expected 'auto' or int"),
])
def test_a_bad_setting_is_a_one_line_config_error(value, message):
    with pytest.raises(ConfigError, match=rf"^config key 'train.cpu_threads': {re.escape(message)}$"):
        load_config(GANConfig, None, [f"train.cpu_threads={value}"])
    assert load_config(GANConfig, None, ["train.cpu_threads=4"]).train.cpu_threads == 4  # a number, as config.yaml stores it


def test_physical_cores_counts_cores_not_hyper_threads_among_usable_cpus(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text(CPUINFO)
    monkeypatch.setattr(threads, "usable_cpus", lambda: set(range(8)))
    assert physical_cores(info) == 4  # (0,0) (0,1) (1,0) (1,1)
    monkeypatch.setattr(threads, "usable_cpus", lambda: {0, 2})  # both hyper-threads of core (0, 0)
    assert physical_cores(info) == 1
    monkeypatch.setattr(threads, "usable_cpus", lambda: {0, 1, 2})
    assert physical_cores(tmp_path / "missing") == 3  # no /proc/cpuinfo: the usable logical CPUs


def test_local_process_count_prefers_torchrun_local_world_size(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert local_process_count(4) == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # 4 processes over two machines
    assert local_process_count(4) == 2


SCRIPT = """
import sys, torch
from gan.config import load_config
from gan.engine.setup import make_accelerator
from gan.generation.config import GANConfig
cfg = load_config(GANConfig, None, ["log.tracker=none", "out_dir=" + sys.argv[1], *sys.argv[2:]])
make_accelerator(cfg)
print("threads", torch.get_num_threads())
"""


def test_default_accelerate_launch_on_cpu_uses_every_physical_core(tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    script = tmp_path / "threads.py"
    script.write_text(SCRIPT)
    e = env()
    e.pop("OMP_NUM_THREADS")  # as a user runs it; accelerate itself then exports OMP_NUM_THREADS=1
    # No `accelerate config` file: accelerate looks for $HF_HOME/accelerate/default_config.yaml.
    e.update(HOME=str(tmp_path), HF_HOME=str(tmp_path / "hf"), XDG_CACHE_HOME=str(tmp_path / "cache"),
             PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="")
    e.pop("ACCELERATE_CONFIG_FILE", None)
    for key in [k for k in e if k.startswith("ACCELERATE_")]:
        e.pop(key)
    res = subprocess.run([accelerate, "launch", str(script), str(tmp_path / "run")],
                         cwd=REPO, env=e, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    expected = physical_cores()
    assert f"threads {expected}" in res.stdout.splitlines()
    assert res.stdout.count(f"device cpu, {expected} threads, 1 process") == 1


def test_an_explicit_thread_count_is_set_and_gpu_runs_are_left_alone(tmp_path, monkeypatch):
    from types import SimpleNamespace

    before = torch.get_num_threads()
    try:
        cpu = SimpleNamespace(device=torch.device("cpu"), num_processes=1, is_main_process=True)
        assert threads.apply_cpu_threads(cpu, "1") == 1 and torch.get_num_threads() == 1
        torch.set_num_threads(2)
        gpu = SimpleNamespace(device=torch.device("cuda", 0), num_processes=1, is_main_process=False)
        assert threads.apply_cpu_threads(gpu, "1") is None and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
