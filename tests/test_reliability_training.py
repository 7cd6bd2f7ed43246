"""Preemption, non-finite losses and gradients, grad-scaler skips, gradient accumulation, tracker failures."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch
from accelerate import Accelerator

from gan.engine.setup import make_accelerator, start_trackers
from gan.engine.tracking import SafeLogger
from gan.engine.trainer import Hook, NonFiniteError, Trainer, TrainerSettings
from gan.generation.task import GANTask
from test_rel_utils import REPO, env, metrics, tiny_cfg, train
from train_gan import main as train_gan_main

NAN = float("nan")
PREEMPT_SCRIPT = """
import pathlib, sys
sys.path.insert(0, "tests")
from test_rel_utils import train
sys.exit(train(pathlib.Path(sys.argv[1]), "train.steps=100000", "checkpoint.every=100000"))
"""

# Periodic evaluation of 100000 images (many minutes on a CPU) from step 2; "in_eval" appears when it generates.
EVAL_PREEMPT_SCRIPT = """
import pathlib, sys
sys.path.insert(0, "tests")
from gan.evaluation import inputs
from test_rel_utils import train
out = pathlib.Path(sys.argv[1])
forward = inputs.GeneratorSource.forward
def marked(self, z):
    (out / "in_eval").touch()
    return forward(self, z)
inputs.GeneratorSource.forward = marked
sys.exit(train(out, "train.steps=100000", "checkpoint.every=100000", "eval.every=2", "eval.num_samples=100000",
               "eval.batch_size=2", "eval.inception_weights=" + sys.argv[2]))
"""


def build(out, *overrides):
    cfg = tiny_cfg(out, *overrides)
    acc, logger = make_accelerator(cfg)
    task = GANTask(cfg, acc)
    return Trainer(TrainerSettings.of(cfg), task, acc, logger), task


def snapshot(task) -> dict[str, torch.Tensor]:
    state = {f"G.{k}": v.clone() for k, v in task.g_raw.state_dict().items()}
    state.update({f"D.{k}": v.clone() for k, v in task.d_raw.state_dict().items()})
    for name, opt in (("optG", task.opt_g), ("optD", task.opt_d)):
        for i, s in opt.state_dict()["state"].items():
            state.update({f"{name}.{i}.{k}": v.clone() for k, v in s.items()})
    return state


def changed(before, after, prefix) -> list[str]:
    return [k for k in before if k.startswith(prefix) and not torch.equal(before[k], after[k])]


# ---- preemption ---------------------------------------------------------------------------------


def test_sigterm_saves_a_checkpoint_at_the_step_boundary_and_exits_nonzero(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", PREEMPT_SCRIPT, str(out)], cwd=REPO, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not ((out / "metrics.jsonl").exists() and len(metrics(out)) >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-3000:]
    step = metrics(out)[-1]["step"]
    assert f"preempted: saved checkpoint at step {step}; relaunch with resume=latest" in stdout
    assert (out / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").is_file()

    assert train(out, "resume=latest", f"train.steps={step + 2}", "checkpoint.every=100000") == 0
    assert [m["step"] for m in metrics(out)] == list(range(1, step + 3))
    state = json.loads((out / "checkpoints" / f"checkpoint-{step + 2}" / "trainer_state.json").read_text())
    assert state["step"] == step + 2


def test_sigterm_during_periodic_evaluation_stops_it_within_a_batch_and_saves(tmp_path, weights):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", EVAL_PREEMPT_SCRIPT, str(out), weights], cwd=REPO, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not (out / "in_eval").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-3000:]
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        stdout, stderr = proc.communicate(timeout=60)  # the whole evaluation would take far longer
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr[-3000:]
    assert time.monotonic() - sent < 30
    assert "eval at step 2: stopped early" in stdout
    assert "preempted: saved checkpoint at step 2; relaunch with resume=latest" in stdout
    assert (out / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()
    assert not (out / "eval" / "step-0000002.json").exists()  # an interrupted evaluation is not recorded


def test_sigint_stops_at_the_next_step_boundary_with_a_checkpoint(tmp_path):
    trainer, _ = build(tmp_path / "run", "train.steps=50", "checkpoint.every=100")
    trainer.hooks = [Hook(3, lambda step: os.kill(os.getpid(), signal.SIGINT))]  # Ctrl-C during step 3's hooks
    assert trainer.fit() == 130
    assert trainer.step == 3
    state = json.loads((tmp_path / "run" / "checkpoints" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["step"] == 3


# ---- non-finite values --------------------------------------------------------------------------


def test_nan_discriminator_loss_stops_before_the_step_and_names_step_and_loss(tmp_path):
    trainer, task = build(tmp_path / "run")
    task.gan_step.loss = dataclasses.replace(task.gan_step.loss, d=lambda real, fake: real.mean() * NAN)
    before = snapshot(task)
    with pytest.raises(NonFiniteError, match=r"non-finite discriminator loss or gradient at step 5 \(discriminator loss here: nan\)"):
        task.train_step(trainer.batches, 4)
    assert changed(before, snapshot(task), "") == []


def test_inf_generator_loss_leaves_the_generator_unchanged(tmp_path):
    trainer, task = build(tmp_path / "run")
    task.gan_step.loss = dataclasses.replace(task.gan_step.loss, g=lambda fake, real=None: fake.mean() * float("inf"))
    before = snapshot(task)
    with pytest.raises(NonFiniteError, match=r"non-finite generator loss or gradient at step 1 \(generator loss here: (-)?inf\)"):
        task.train_step(trainer.batches, 0)
    after = snapshot(task)
    g_weights = [f"G.{name}" for name, _ in task.g_raw.named_parameters()]
    assert [k for k in g_weights if not torch.equal(before[k], after[k])] == [] and changed(before, after, "optG.") == []
    assert changed(before, after, "D.")  # the discriminator's own (finite) step of this iteration stands


def test_a_nan_gradient_with_a_finite_loss_is_caught(tmp_path):
    trainer, task = build(tmp_path / "run")
    next(task.d_raw.parameters()).register_hook(lambda grad: grad * NAN)
    before = snapshot(task)
    with pytest.raises(NonFiniteError, match="non-finite discriminator loss or gradient at step 1"):
        task.train_step(trainer.batches, 0)
    assert changed(before, snapshot(task), "") == []


def test_the_cli_reports_a_diverged_run_on_one_line(tmp_path, capsys):
    rc = train_gan_main(["--config", str(REPO / "tests/defaults.yaml"), f"out_dir={tmp_path / 'run'}", "log.tracker=none", "data.resolution=16", "data.shapes_size=24",
                         "model.nz=8", "model.ngf=8", "model.ndf=8", "train.batch_size=8", "train.steps=20", "optim.d_lr=1e30",
                         "optim.g_lr=1e30", "log.sample_every=1000"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("error: non-finite ") and "weights left unchanged" in err[-1], err[-3:]


def test_skip_mode_and_grad_scaler_skips_advance_neither_the_step_nor_the_ema(tmp_path, monkeypatch):
    trainer, task = build(tmp_path / "run", "train.steps=3", "train.on_nonfinite=skip")
    calls, d_loss = [], task.gan_step.loss.d
    nan_on_second_call = lambda r, f: r.mean() * NAN if len(calls.append(1) or calls) == 2 else d_loss(r, f)  # noqa: E731
    task.gan_step.loss = dataclasses.replace(task.gan_step.loss, d=nan_on_second_call)
    overflow = [False, False, False, True]  # an fp16 grad-scaler overflow on the 4th optimizer step
    monkeypatch.setattr(Accelerator, "optimizer_step_was_skipped", property(lambda self: overflow.pop(0) if overflow else False))
    assert trainer.fit() == 0
    assert trainer.step == 3 and trainer.skipped_steps == 2 and task.ema.num_updates == 3
    state = json.loads((tmp_path / "run" / "checkpoints" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["skipped_steps"] == 2
    assert [m["step"] for m in metrics(tmp_path / "run")] == [1, 2, 3]


# ---- gradient accumulation ----------------------------------------------------------------------


def test_accumulated_micro_batches_equal_one_big_batch(tmp_path):
    # Without BatchNorm a batch is a plain mean over samples, so k micro-batches of b == one batch of k*b.
    # float32: the comparison is of accumulation arithmetic, not of bf16 rounding (train.mixed_precision=auto)
    common = ["model.g_norm=none", "model.d_norm=none", "data.shapes_size=32", "train.mixed_precision=no"]
    big_trainer, big = build(tmp_path / "big", "train.batch_size=8", *common)
    acc_trainer, accum = build(tmp_path / "accum", "train.batch_size=4", "train.grad_accum=2", *common)
    before = snapshot(big)
    assert changed(before, snapshot(accum), "") == []  # same seed, same init
    big_stats, accum_stats = big.train_step(big_trainer.batches, 0), accum.train_step(acc_trainer.batches, 0)
    for key in ("d_loss", "g_loss"):
        assert float(accum_stats[key]) == pytest.approx(float(big_stats[key]), rel=1e-5)
    for name, a, b in (("G", big.g_raw, accum.g_raw), ("D", big.d_raw, accum.d_raw)):
        for (pname, p), q in zip(a.named_parameters(), b.parameters()):
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-7, msg=f"{name}.{pname} gradient")
            torch.testing.assert_close(q, p, rtol=0, atol=1e-6, msg=f"{name}.{pname} weight")
    assert changed(before, snapshot(big), "G.") and changed(before, snapshot(big), "D.")


# ---- trackers -----------------------------------------------------------------------------------


def test_a_tracker_that_raises_does_not_stop_training_or_checkpoints(tmp_path, monkeypatch):
    trainer, _ = build(tmp_path / "run", "train.steps=3", "checkpoint.every=2")
    trainer.logger = SafeLogger(trainer.accelerator, enabled=True)

    def broken(*args, **kwargs):
        raise ConnectionError("tracker unreachable")

    monkeypatch.setattr(trainer.accelerator, "log", broken)
    monkeypatch.setattr(trainer.accelerator, "get_tracker", broken)
    monkeypatch.setattr(trainer.accelerator, "end_training", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert trainer.fit() == 0
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["checkpoint-2", "checkpoint-3"]
    assert sum("tracker logging failed" in str(w.message) for w in caught) == 1  # reported once


def test_a_tracker_that_fails_to_start_is_dropped(tmp_path, monkeypatch):
    cfg = tiny_cfg(tmp_path)
    acc = Accelerator()

    def broken(*args, **kwargs):
        raise TimeoutError("wandb init timed out")

    monkeypatch.setattr(acc, "init_trackers", broken)
    with pytest.warns(UserWarning, match="failed to start, training without it: wandb init timed out"):
        assert start_trackers(acc, cfg, {}) is False


WANDB_SCRIPT = """
import pathlib, sys, time
sys.path.insert(0, "tests")
from test_rel_utils import train
start = time.perf_counter()
code = train(pathlib.Path(sys.argv[1]), "log.tracker=wandb", "train.steps=2")
print(f"seconds {time.perf_counter() - start:.1f}")
sys.exit(code)
"""


def test_wandb_without_network_or_credentials_runs_offline(tmp_path):
    e = env()
    for key in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR"):
        e.pop(key, None)
    e["HOME"] = str(tmp_path)  # no ~/.netrc, no wandb settings
    e["WANDB_BASE_URL"] = "http://127.0.0.1:9"  # nothing listens there: any network call would fail
    res = subprocess.run([sys.executable, "-c", WANDB_SCRIPT, str(tmp_path / "run")], cwd=REPO, env=e,
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "wandb: logging offline (no W&B credentials found) to " in res.stdout
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()
    print(res.stdout.splitlines()[-1])  # the train time, for the report
