"""The training loop shared by GAN training and segmentation fine-tuning.

A job supplies a :class:`Task` (its models, one train step, its extra state and its inference
export); the :class:`Trainer` owns everything else: resuming, the progress bar, logging,
checkpoints, periodic hooks (sample grids, evaluation), preemption and the final export.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from ..config import is_resumable, to_dict, typed_dict
from ..errors import CheckpointError
from ..formats import (
    CHECKPOINTS_DIR, EXPORT_DIR, EXTRA_STATE_FILE, LOSS_PLOT, METRICS_LOG, checkpoint_step, list_checkpoints,
    load_safetensors, save_safetensors_atomic,
)
from ..process.signals import PreemptionGuard
from .checkpoint import CheckpointManager, load_checkpoint, read_trainer_state, resolve_resume, saved_process_count
from .data_stream import BatchStream
from .distributed import broadcast_buffers
from .history import History, finish_interrupted, parse_history, start_history
from .setup import write_run_config
from .state import StateRegistry
from .stats import StatsCollector, append_jsonl, plot_curves, read_jsonl, to_host
from .tracking import SafeLogger
from .update import NonFiniteError

MAX_CONSECUTIVE_SKIPS = 100  # fp16 overflow skips shrink the loss scale; this many means it is stuck


class Task(Protocol):
    """What a job gives the :class:`Trainer`."""

    dataloader: Any  # prepared by the task's single ``accelerator.prepare`` call
    loss_keys: list[str]  # keys of train_step's result, plotted to loss_curves.png
    plot_every: int  # steps between redraws of loss_curves.png (and at the end)
    state: StateRegistry  # its stateful objects (EMA, augmentation, best-export keeper, random streams)

    def train_step(self, batches: BatchStream, step: int) -> dict[str, float | torch.Tensor] | None:
        """One optimizer step of the main model; None when it was skipped (not counted).

        Values may be 0-d tensors left on the device: the trainer reads them at log steps only.
        """

    def write_export(self, folder: Path, step: int) -> None:
        """Write the inference snapshot (main process only)."""

    def buffer_modules(self) -> list[torch.nn.Module]:
        """Unwrapped modules (the prepared ones and e.g. an EMA copy) whose buffers rank 0 gives every process."""


@dataclass(frozen=True)
class TrainerSettings:
    """What the :class:`Trainer` reads of a run's config; :meth:`of` takes it from any job's config."""

    out_dir: Path
    steps: int  # train.steps
    log_every: int  # log.every
    checkpoint_every: int  # checkpoint.every
    keep: int  # checkpoint.keep
    resume: str  # "", "latest" or a checkpoint folder
    # The whole config, only recorded (config.yaml, checkpoints) and compared with a checkpoint's on resume.
    config: Any

    @classmethod
    def of(cls, cfg: Any) -> "TrainerSettings":
        """The settings of a job's config (any config with the shared ``RunConfig`` sections)."""
        return cls(Path(cfg.out_dir), cfg.train.steps, cfg.log.every, cfg.checkpoint.every, cfg.checkpoint.keep,
                   cfg.resume, cfg)


@dataclass
class Hook:
    """Something run on the main process every ``every`` steps and at the end; returns values to log."""

    every: int
    fn: Callable[[int], dict[str, float] | None]
    # True: run on every process (e.g. a sharded evaluation that reduces across processes);
    # only the main process's return value is logged.
    all_processes: bool = False


def config_differences(old: dict, new: dict, prefix: str = "", defaults: dict | None = None) -> list[str]:
    """Dotted keys whose values differ between two nested config dicts.

    A key missing from ``old`` (a checkpoint written before the key existed) counts as its value in
    ``defaults``, so adding a setting to the toolkit does not make older checkpoints unresumable.
    """
    defaults = defaults or {}
    keys = sorted(set(old) | set(new))
    out: list[str] = []
    for key in keys:
        a, b, name = old.get(key, defaults.get(key)), new.get(key), f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, name + ".", defaults.get(key) if isinstance(defaults.get(key), dict) else None)
        elif a != b:
            out.append(name)
    return out


class Trainer:
    """Runs ``task`` for ``settings.steps`` steps with checkpoints, logs and hooks under ``settings.out_dir``."""

    def __init__(self, settings: TrainerSettings, task: Task, accelerator: Accelerator, logger: SafeLogger,
                 hooks: list[Hook] | None = None) -> None:
        self.settings, self.task, self.accelerator, self.logger = settings, task, accelerator, logger
        self.hooks = hooks or []
        self.run_dir = settings.out_dir
        if accelerator.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.ckpt = CheckpointManager(self.run_dir / CHECKPOINTS_DIR, settings.keep, accelerator)
        self.batches = BatchStream(task.dataloader)
        self.collector = StatsCollector()
        self.pending: list[dict[str, Any]] = []  # per-step stats not yet read back to the host
        self.step, self.skipped_steps = 0, 0
        # images_per_s: images counted by the task's steps (its "images" value) over the wall-clock time
        # between log points, everything included (data, hooks, checkpoints), like the bar's step rate.
        self.window_start, self.window_images, self.run_images = time.perf_counter(), 0.0, 0.0
        self.postfix: dict[str, str] = {}
        self.log_path = self.run_dir / METRICS_LOG
        self.history = History()  # the main process's is the one recorded (set by maybe_resume)

    # ---- resume -----------------------------------------------------------------------------

    def maybe_resume(self) -> None:
        """Continue from ``settings.resume`` (or start) and fix the run directory's one history (:mod:`.history`)."""
        main, resume = self.accelerator.is_main_process, self.settings.resume
        if resume and main:
            self.ckpt.clear_leftovers()  # an interrupted save's folder is never a resume candidate
            self._note(finish_interrupted(self.run_dir))  # nor a checkpoint of another history
        self.accelerator.wait_for_everyone()  # every rank then sees the same checkpoints
        folder = resolve_resume(resume, self.run_dir / CHECKPOINTS_DIR)
        if folder is None:
            if resume == "latest" and main:
                print(f"resume=latest: no checkpoint under {self.run_dir / 'checkpoints'}, starting from scratch")
            if main:
                self.history = self._start_history(None)
            return
        state = read_trainer_state(folder)
        self.check_config(state["config"])
        rng = load_checkpoint(self.accelerator, folder)
        self.task.state.load_state_tensors(load_safetensors(folder / EXTRA_STATE_FILE))
        self.task.state.load_rng_tensors(rng)
        self.step, self.skipped_steps = state["step"], state.get("skipped_steps", 0)
        self.batches.load_state_dict(state["data"])
        if main:
            self.history = self._start_history(parse_history(state, folder))  # steps after the checkpoint are redone
            print(f"resumed from {folder} at step {self.step}")
            saved, now = saved_process_count(folder), self.accelerator.num_processes
            if saved != now:
                print(f"note: {folder.name} was written by {saved} processes, resuming with {now}: the data shards, "
                      f"the data position within the epoch and the effective batch ({saved} -> {now} x train.batch_size) change")

    def _start_history(self, resumed: History | None) -> History:
        """The history this run continues; a rewind (newer checkpoints exist) moves them aside, reported in one line."""
        newer = any((checkpoint_step(p) or 0) > self.step for p in list_checkpoints(self.run_dir / CHECKPOINTS_DIR))
        history, note = start_history(self.run_dir, resumed, self.step, newer)
        self._note(note)
        return history

    @staticmethod
    def _note(line: str) -> None:
        if line:
            print(line)

    def check_config(self, old: dict) -> None:
        """Refuse a resume whose config differs in a setting not declared :func:`gan.config.resumable`."""
        cfg = self.settings.config
        diffs = config_differences(typed_dict(type(cfg), old), to_dict(cfg), defaults=to_dict(type(cfg)()))
        fixed = [k for k in diffs if not is_resumable(type(cfg), k)]
        if fixed:
            raise CheckpointError(f"cannot resume: the config differs from the checkpoint's in {', '.join(fixed)}")
        if diffs and self.accelerator.is_main_process:
            print(f"resuming with changed settings: {', '.join(diffs)}")

    # ---- checkpoints ------------------------------------------------------------------------

    def sync_buffers(self) -> None:
        """Give every process rank 0's buffers (BatchNorm statistics of the models and of extra modules)."""
        broadcast_buffers(self.accelerator, self.task.buffer_modules())

    def save_checkpoint(self) -> Path:
        self.flush_stats()  # the log then holds every step the checkpoint has
        self.sync_buffers()  # what rank 0 saves is then what every rank holds
        state = {
            "step": self.step,
            "skipped_steps": self.skipped_steps,
            "data": self.batches.state_dict(),
            "config": to_dict(self.settings.config),
            **self.history.to_json(),  # timeline and lineage: resume=latest never mixes histories
        }

        def write_extra(folder: Path) -> None:
            save_safetensors_atomic(self.task.state.state_tensors(), folder / EXTRA_STATE_FILE)
            self.task.write_export(folder, self.step)

        path = self.ckpt.save(self.step, state, write_extra, self.task.state.rng_tensors())
        if self.accelerator.is_main_process:
            self.task.write_export(self.run_dir / EXPORT_DIR, self.step)
        return path

    # ---- the loop ---------------------------------------------------------------------------

    def fit(self) -> int:
        """Train to ``settings.steps``; returns the process exit code (non-zero when preempted)."""
        self.maybe_resume()
        write_run_config(self.settings.config, self.accelerator)  # only once a resume target was accepted
        acc = self.accelerator
        bar = tqdm(total=self.settings.steps, initial=self.step, disable=not acc.is_main_process, desc="train",
                   unit="step", dynamic_ncols=True)
        self.window_start, self.window_images, self.run_images = time.perf_counter(), 0.0, 0.0
        try:
            with PreemptionGuard() as guard:
                preempted = self._loop(guard, bar)
            self._show_run_rate(bar)
        finally:
            bar.close()  # also on errors, so that the one-line error message is not glued to the bar
        if preempted:
            if acc.is_main_process:
                print(f"preempted: saved checkpoint at step {self.step}; relaunch with resume=latest")
            return guard.exit_code
        self._finish()
        return 0

    def _loop(self, guard: PreemptionGuard, bar: tqdm) -> bool:
        """Run steps until done; True when stopped by a signal (after saving a checkpoint)."""
        consecutive_skips = 0
        while self.step < self.settings.steps:
            if guard.requested(self.accelerator):
                self.save_checkpoint()
                return True
            stats = self.task.train_step(self.batches, self.step)
            if stats is None:
                self.skipped_steps, consecutive_skips = self.skipped_steps + 1, consecutive_skips + 1
                if consecutive_skips > MAX_CONSECUTIVE_SKIPS:
                    raise NonFiniteError(f"{consecutive_skips} consecutive steps skipped (non-finite values) at step {self.step + 1}")
                continue
            consecutive_skips = 0
            self.step += 1
            self._after_step(stats, bar)
        return False

    def _after_step(self, stats: dict[str, float], bar: tqdm) -> None:
        step, settings = self.step, self.settings
        stats = dict(stats)
        images = float(stats.pop("images", 0.0))
        self.window_images, self.run_images = self.window_images + images, self.run_images + images
        self.pending.append({"step": step, **stats})
        if step % settings.log_every == 0 or step == settings.steps:
            self.flush_stats()
            means = self.collector.means()
            now = time.perf_counter()
            if self.window_images:
                means["images_per_s"] = self.window_images / max(now - self.window_start, 1e-9)
            self.window_start, self.window_images = now, 0.0
            self.logger.log({f"train/{k}": v for k, v in means.items()}, step=step)
            self.postfix = {k: f"{v:.3g}" for k, v in means.items()}
            bar.set_postfix(self.postfix, refresh=False)
        if step < settings.steps:
            bar.update(1)
        else:  # no display here: bar.close() draws the final line, which an update would draw twice
            bar.n = step
        self._run_hooks(step, final=step == settings.steps)
        if step % settings.checkpoint_every == 0 or step == settings.steps:
            self.save_checkpoint()

    def _show_run_rate(self, bar: tqdm) -> None:
        """Put the run's average images_per_s on the bar's last line, which shows the run's average step rate.

        tqdm's final line replaces the recent rate by steps / elapsed; the postfix then follows suit.
        """
        if bar.disable or not self.run_images:
            return
        elapsed = bar.format_dict["elapsed"]
        if elapsed > 0:
            bar.set_postfix(dict(self.postfix, images_per_s=f"{self.run_images / elapsed:.3g}"), refresh=False)

    def _run_hooks(self, step: int, final: bool) -> None:
        for hook in self.hooks:
            if step % hook.every == 0 or final:
                run_here = hook.all_processes or self.accelerator.is_main_process
                values = hook.fn(step) if run_here else None
                if values and self.accelerator.is_main_process:
                    self.logger.log(values, step=step)
        if self.accelerator.is_main_process and (step % self.task.plot_every == 0 or final):
            self.plot_losses()

    def flush_stats(self) -> None:
        """Read the pending steps' stats back to the host at once; add them to the window and the JSONL log."""
        rows, self.pending = to_host(self.pending), []
        for row in rows:
            self.collector.add({k: v for k, v in row.items() if k != "step"})
        if rows and self.accelerator.is_main_process:
            keep = set(self.task.loss_keys) | {"step"}
            rows = [{k: (int(v) if k == "step" else v) for k, v in row.items() if k in keep} for row in rows]
            append_jsonl(self.log_path, *({**row, "timeline": self.history.timeline} for row in rows))

    def plot_losses(self) -> None:
        self.flush_stats()
        plot_curves(read_jsonl(self.log_path), self.task.loss_keys, self.run_dir / LOSS_PLOT, "training losses", smooth=25)

    def _finish(self) -> None:
        self.sync_buffers()
        if self.accelerator.is_main_process:
            done = list_checkpoints(self.run_dir / CHECKPOINTS_DIR)
            print(f"done: {self.step} step{'' if self.step == 1 else 's'}; export in {self.run_dir / 'export'}; latest checkpoint {done[-1] if done else 'none'}")
        self.logger.log_model(self.run_dir, self.step)  # W&B online only
        self.logger.close()
