"""Exact resume: same final G/D/EMA/optimizer/RNG states and per-step losses as a run straight through."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration
from torch.utils.data import DataLoader, Dataset

from gan.engine.data_stream import BatchStream
from gan.engine.setup import make_accelerator
from gan.engine.trainer import Trainer, TrainerSettings
from gan.errors import CheckpointError
from gan.generation.task import GANTask
from test_rel_utils import differing_state_files, metrics, run_python, tiny_cfg, train

STEPS = 6  # 3 batches per epoch: stopping at 3 is an epoch boundary, at 4 mid-epoch
RESUME_SCRIPT = """
import sys
from test_rel_utils import train
for out in sys.argv[1:]:
    assert train(__import__("pathlib").Path(out), "resume=latest", "train.steps=6", *open(out + ".args").read().split()) == 0
"""


def test_stop_and_resume_in_a_new_process_matches_a_straight_run(tmp_path):
    runs = []
    for workers in (0, 2):
        extra = [f"data.num_workers={workers}", "checkpoint.every=100"]
        straight = tmp_path / f"straight{workers}"
        train(straight, f"train.steps={STEPS}", *extra, "checkpoint.every=1")
        for stop in (3, 4):
            out = tmp_path / f"stop{stop}_w{workers}"
            if (workers, stop) == (2, 4):  # a real stopped run once; elsewhere the same checkpoint, copied
                assert train(out, f"train.steps={stop}", *extra) == 0
            else:
                shutil.copytree(straight / "checkpoints" / f"checkpoint-{stop}", out / "checkpoints" / f"checkpoint-{stop}")
                (out / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics(straight)[:stop]))
            (tmp_path / f"stop{stop}_w{workers}.args").write_text(" ".join(extra))
            runs.append((out, workers, stop))
    code = "import sys; sys.path.insert(0, 'tests')\n" + RESUME_SCRIPT
    res = run_python(code, *[str(out) for out, _, _ in runs])
    assert res.returncode == 0, res.stderr[-3000:]
    for out, workers, stop in runs:
        assert f"resumed from {out / 'checkpoints' / f'checkpoint-{stop}'} at step {stop}" in res.stdout
        straight = tmp_path / f"straight{workers}"
        final = f"checkpoints/checkpoint-{STEPS}"
        # G, D (model*.safetensors), EMA (extra_state), both Adam states, torch/numpy/python and noise RNGs.
        assert differing_state_files(straight / final, out / final) == [], (workers, stop)
        assert metrics(out) == metrics(straight), (workers, stop)  # every per-step loss, bit for bit
        state = json.loads((out / final / "trainer_state.json").read_text())
        assert state["step"] == STEPS and state["data"] == {"epoch": 1, "index": 3}  # 6 batches of 3 per epoch


class Indices(Dataset):
    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor(i)


def index_stream(acc: Accelerator, workers: int) -> BatchStream:
    loader = DataLoader(Indices(), batch_size=3, shuffle=True, drop_last=True, num_workers=workers, persistent_workers=workers > 0)
    return BatchStream(acc.prepare(loader))


@pytest.mark.parametrize("workers", [0, 2])
def test_data_order_resumes_without_repeats_or_skips(workers):
    acc = Accelerator(dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=5))
    global_rng = torch.get_rng_state()
    stream, ref, states = index_stream(acc, workers), [], []
    for _ in range(9):  # three epochs of 3 batches (index 9 is dropped by drop_last)
        states.append(stream.state_dict())
        ref.append(next(stream).tolist())
    epochs = [sum(ref[e * 3:(e + 1) * 3], []) for e in range(3)]
    assert all(len(set(e)) == 9 for e in epochs)  # no sample twice within an epoch
    assert epochs[0] != epochs[1] != epochs[2]  # a new order every epoch
    for k in (2, 3, 4, 6):  # mid-epoch, the boundaries, mid-epoch again
        resumed = index_stream(acc, workers)
        resumed.load_state_dict(states[k])
        assert [next(resumed).tolist() for _ in range(9 - k)] == ref[k:], k
    # Iterators (more of them after a resume) draw worker seeds from the stream's own generator.
    assert torch.equal(torch.get_rng_state(), global_rng)


def make_trainer(out, *overrides):
    cfg = tiny_cfg(out, *overrides)
    acc, logger = make_accelerator(cfg)
    task = GANTask(cfg, acc)
    return Trainer(TrainerSettings.of(cfg), task, acc, logger), task


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cfg") / "run"
    assert train(out, "train.steps=2") == 0
    return out


def test_resume_with_changed_architecture_resolution_or_dataset_lists_the_keys(stopped_run):
    trainer, _ = make_trainer(stopped_run, "resume=latest", "model.ngf=16", "data.resolution=32", "data.shapes_seed=3")
    with pytest.raises(CheckpointError, match=r"differs from the checkpoint's in data\.resolution, data\.shapes_seed, model\.ngf$"):
        trainer.maybe_resume()


def test_resume_with_changed_learning_rate_and_logging_is_allowed_logged_and_applied(stopped_run, capsys):
    trainer, task = make_trainer(stopped_run, "resume=latest", "optim.g_lr=0.001", "log.every=7", "eval.every=5")
    trainer.maybe_resume()
    out = capsys.readouterr().out
    assert "resuming with changed settings: eval.every, log.every, optim.g_lr, resume" in out
    assert trainer.step == 2
    assert [g["lr"] for g in task.opt_g.param_groups] == [0.001]
    assert [g["lr"] for g in task.opt_d.param_groups] == [2e-4]


@pytest.mark.parametrize("missing", ["random_states_0.pkl", "toolkit_rng_0.safetensors"])
def test_a_checkpoint_without_its_rng_state_is_an_error(stopped_run, tmp_path, missing):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    (run / "checkpoints" / "checkpoint-2" / missing).unlink()
    trainer, _ = make_trainer(run, "resume=latest")
    with pytest.raises(CheckpointError, match=f"missing '{missing}'"):
        trainer.maybe_resume()


def test_a_checkpoint_with_garbage_rng_state_is_an_error(stopped_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    (run / "checkpoints" / "checkpoint-2" / "random_states_0.pkl").write_bytes(b"not a pickle")
    trainer, _ = make_trainer(run, "resume=latest")
    with pytest.raises(CheckpointError, match="random_states_0.pkl"):
        trainer.maybe_resume()
