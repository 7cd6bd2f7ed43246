"""Two CPU processes (torchrun, gloo): identical models and buffers, disjoint data shards, per-rank noise,
one writer; a launch that forms no process group is stopped."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from gan.engine.distributed import LaunchError, check_process_group, needs_cpu_group
from gan.process.threads import physical_cores
from test_rel_utils import REPO, env, metrics

WORKER = """
import dataclasses, json, sys
from pathlib import Path
import torch
from safetensors.torch import save_file
from torch.utils.data import DataLoader, Dataset
from gan.cli import exit_process
from gan.config import load_config
from gan.generation.config import GANConfig
from gan.engine.data_stream import BatchStream
from gan.engine.setup import make_accelerator
from gan.engine.trainer import NonFiniteError, Trainer, TrainerSettings
from gan.generation.task import GANTask

class Indices(Dataset):
    def __len__(self):
        return 16
    def __getitem__(self, i):
        return torch.tensor(i)

out, dump = Path(sys.argv[1]), Path(sys.argv[2])
cfg = load_config(GANConfig, None, [f"out_dir={out}", "log.tracker=none", "data.resolution=16", "data.shapes_size=32",
      "model.nz=8", "model.ngf=8", "model.ndf=8", "train.batch_size=4", "train.steps=3", "checkpoint.every=2",
      "log.sample_every=1000", "log.num_samples=4"])
acc, logger = make_accelerator(cfg)
task = GANTask(cfg, acc)
trainer = Trainer(TrainerSettings.of(cfg), task, acc, logger)
assert trainer.fit() == 0
rank = acc.process_index
tensors = {f"G.{k}": v for k, v in task.g_raw.state_dict().items()}
tensors.update({f"D.{k}": v for k, v in task.d_raw.state_dict().items()})
tensors.update({f"EMA.{k}": v for k, v in task.ema.state_dict().items()})
tensors["next_latents"] = task.gan_step.latents(2)[0]
save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(dump / f"rank{rank}.safetensors"))
shard = BatchStream(acc.prepare(DataLoader(Indices(), batch_size=2, shuffle=True, drop_last=True)))
seen = [int(i) for _ in range(len(shard.dataloader)) for i in next(shard)]
if rank == 1:  # a NaN on one process only must stop every process
    task.gan_step.loss = dataclasses.replace(task.gan_step.loss, d=lambda real, fake: real.mean() * float("nan"))
try:
    task.train_step(trainer.batches, trainer.step)
    nonfinite = ""
except NonFiniteError as err:
    nonfinite = str(err)
(dump / f"rank{rank}.json").write_text(json.dumps({"world": acc.num_processes, "seen": seen, "nonfinite": nonfinite,
                                                   "threads": torch.get_num_threads()}))
acc.end_training()  # ends the process group: a gloo group alive at exit can abort the process
exit_process(0)  # and, as train_gan.py ends a rank, without interpreter finalisation (gan.cli.exit_process says why)
"""


def test_two_cpu_processes_train_one_consistent_model(tmp_path):
    torchrun = shutil.which("torchrun", path=str(REPO / ".venv" / "bin")) or shutil.which("torchrun")
    assert torchrun, "torchrun (part of torch) is not on PATH"
    script, out, dump = tmp_path / "worker.py", tmp_path / "run", tmp_path / "dump"
    script.write_text(WORKER)
    dump.mkdir()
    e = env()
    e["OMP_NUM_THREADS"] = "1"
    res = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", str(script), str(out), str(dump)],
                         cwd=REPO, env=e, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    ranks = [json.loads((dump / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    split = max(1, physical_cores() // 2)  # train.cpu_threads=auto: the two processes share the cores
    assert [r["threads"] for r in ranks] == [split, split] and res.stdout.count(f"device cpu, {split} threads, 2 processes") == 1

    a, b = load_file(dump / "rank0.safetensors"), load_file(dump / "rank1.safetensors")
    assert any("running_mean" in k for k in a) and any(k.startswith("EMA.") and "running_var" in k for k in a)
    assert [k for k in a if k != "next_latents" and not torch.equal(a[k], b[k])] == []  # params and buffers
    assert not torch.equal(a["next_latents"], b["next_latents"])  # each process has its own noise

    seen0, seen1 = ranks[0]["seen"], ranks[1]["seen"]
    assert len(seen0) == len(seen1) == 8 and not set(seen0) & set(seen1) and sorted(seen0 + seen1) == list(range(16))

    for r in ranks:  # the NaN met on process 1 stopped both, each saying where it was
        assert r["nonfinite"].startswith("non-finite discriminator loss or gradient")
    assert re.search(r"here: -?\d", ranks[0]["nonfinite"]) and "here: nan" in ranks[1]["nonfinite"]

    assert [m["step"] for m in metrics(out)] == [1, 2, 3]  # one writer: each step logged once
    assert res.stdout.count("done: 3 steps") == 1
    ckpt = out / "checkpoints" / "checkpoint-3"
    assert sorted(p.name for p in ckpt.glob("*_1.*")) == ["model_1.safetensors", "optimizer_1.bin", "random_states_1.pkl", "toolkit_rng_1.safetensors"]


def test_processes_launched_without_a_process_group_are_stopped(monkeypatch):
    alone = SimpleNamespace(num_processes=1, distributed_type="NO")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(LaunchError, match=r"launcher started 2 processes .* formed a group of 1 .*`torchrun --nproc_per_node N`"):
        check_process_group(alone)
    assert needs_cpu_group() == (not torch.cuda.is_available())  # gloo on CPU-only machines
    monkeypatch.delenv("WORLD_SIZE")
    check_process_group(alone)  # a plain single-process run
    assert not needs_cpu_group()


def test_accelerate_launch_multi_gpu_on_a_cpu_only_machine_forms_one_group(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this checks the CPU-only fallback")
    accelerate = shutil.which("accelerate", path=str(REPO / ".venv" / "bin")) or shutil.which("accelerate")
    out = tmp_path / "run"
    e = env()
    e["OMP_NUM_THREADS"] = "1"
    res = subprocess.run([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                          "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0", "train_gan.py",
                          "--config", "configs/quickstart.yaml", "data.resolution=16", "data.shapes_size=64", "model.nz=8",
                          "model.ngf=8", "model.ndf=8", "train.batch_size=8", "log.tracker=none", "train.steps=2",
                          f"out_dir={out}"], cwd=REPO, env=e, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert (out / "checkpoints" / "checkpoint-2" / "random_states_1.pkl").is_file()  # rank 1 trained in the same group
    assert [m["step"] for m in metrics(out)] == [1, 2] and res.stdout.count("done: 2 steps") == 1
