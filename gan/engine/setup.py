"""Run set-up shared by every job: the Accelerator, its tracker and the run directory."""
from __future__ import annotations

import contextlib
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, InitProcessGroupKwargs, set_seed

from ..config import flatten, to_dict, to_yaml
from .distributed import check_process_group, collective_error, needs_cpu_group
from ..formats import RUN_CONFIG
from ..process.cpu_memory import keep_freed_memory
from ..process.threads import apply_cpu_threads
from .precision import launcher_precision, run_device_type, run_precision
from .tracking import SafeLogger, announce_offline_run, run_identity, tracker_config, tracker_settings


def make_accelerator(cfg: Any) -> tuple[Accelerator, SafeLogger]:
    """One Accelerator for the run (mixed precision, tracker, seedable data order).

    ``cfg`` is any config with ``out_dir``, ``train.mixed_precision``, ``train.seed``,
    ``train.collective_timeout_s`` and the ``log`` tracker keys.
    """
    log_with, init_kwargs = tracker_settings(cfg.log.tracker, cfg.out_dir)
    force_cpu = needs_cpu_group()
    precision = run_precision(cfg.train.mixed_precision, run_device_type(force_cpu), launcher_precision())
    acc = Accelerator(
        mixed_precision=precision,
        log_with=log_with,
        project_dir=cfg.out_dir,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=cfg.train.seed),
        cpu=force_cpu,  # without it, N CPU processes run N unrelated single-process trainings
        # A collective waiting for a stalled or dead rank fails after this long instead of hanging forever.
        kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=cfg.train.collective_timeout_s))],
    )
    check_process_group(acc)
    if acc.device.type == "cpu":
        keep_freed_memory()  # activations are reallocated every step: no page faults for them (cpu_memory.py)
    apply_cpu_threads(acc, cfg.train.cpu_threads, precision)  # accelerate launch exports OMP_NUM_THREADS=1
    if precision == "fp16" and not acc.native_amp and acc.is_main_process:
        print(f"note: train.mixed_precision=fp16 needs a GPU; on {acc.device.type} it runs in float32 (bf16 autocasts on CPU)")
    # Every process starts from the same seed; data shards and per-rank noise streams differ.
    set_seed(cfg.train.seed)
    enabled = log_with is not None and start_trackers(acc, cfg, init_kwargs)
    return acc, SafeLogger(acc, enabled=enabled)


@contextlib.contextmanager
def accelerated_run(cfg: Any) -> Iterator[tuple[Accelerator, SafeLogger]]:
    """:func:`make_accelerator` for a whole run; the process group is ended when the run ends.

    A gloo group left alive at interpreter exit can abort the process ("terminate called without
    an active exception") after the run has finished. A collective that lost a peer (stopped or
    dead process) becomes a one-line :class:`CollectiveError` instead of gloo's traceback.
    """
    acc, logger = make_accelerator(cfg)
    try:
        yield acc, logger
    except RuntimeError as err:
        lost = collective_error(err, acc.process_index, acc.num_processes, cfg.train.collective_timeout_s)
        if lost is None:
            raise
        raise lost from err
    finally:
        acc.state.destroy_process_group()


def start_trackers(acc: Accelerator, cfg: Any, init_kwargs: dict[str, Any]) -> bool:
    """Start the configured tracker, named by ``log.run_name``/``tags``/``entity``; a tracker that fails to start is
    reported and training goes on without it."""
    project, identity = run_identity(cfg.log, cfg.out_dir)
    for tracker, kwargs in identity.items():
        init_kwargs.setdefault(tracker, {}).update(kwargs)
    try:
        acc.init_trackers(project, config=tracker_config(flatten(to_dict(cfg)), cfg.log.tracker), init_kwargs=init_kwargs)
    except Exception as err:  # a tracker must never stop training or checkpointing
        warnings.warn(f"tracker '{cfg.log.tracker}' failed to start, training without it: {err}", stacklevel=1)
        return False
    announce_offline_run(acc)
    return True


def write_run_config(cfg: Any, acc: Accelerator) -> None:
    """The resolved config as ``<out_dir>/config.yaml`` (main process)."""
    if acc.is_main_process:
        out = Path(cfg.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / RUN_CONFIG).write_text(to_yaml(cfg))
