"""Experiment tracking through Accelerate's tracker API, safe offline and against tracker failures."""
from __future__ import annotations

import netrc
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from accelerate import Accelerator
from PIL import Image

from ..errors import UserError
from ..formats import BEST_DIR, EXPORT_DIR

# Keyword arguments of each tracker's ``log_images`` for one (1, H, W, C) uint8 batch; TensorBoard's
# ``add_images`` reads NCHW unless told otherwise.
IMAGE_KWARGS: dict[str, dict[str, Any]] = {"tensorboard": {"dataformats": "NHWC"}}
# The package a tracker needs, and the extra of this project that installs it.
def wandb_has_credentials() -> bool:
    """True when W&B could log in without asking: an API key in the environment or ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def check_tracker_installed(tracker: str) -> None:
    """Stop before training when ``log.tracker=tensorboard`` and its optional package is missing.

    Accelerate would only warn and train on without any logging. (W&B is a core dependency.)
    """
    if tracker != "tensorboard":
        return
    try:
        import tensorboard  # noqa: F401  (a fixed name: no import by a configured string)
    except ImportError:
        raise UserError('log.tracker=tensorboard needs the \'tensorboard\' package, which is not installed: '
                        'pip install -e ".[tensorboard]"') from None


def tracker_settings(tracker: str, run_dir: str) -> tuple[str | None, dict[str, Any]]:
    """Return ``(log_with, init_kwargs)`` for :class:`Accelerator` and ``init_trackers``.

    W&B without credentials (no network, no login) falls back to offline mode instead of
    prompting or hanging; an explicit ``WANDB_MODE`` is respected. Offline, W&B's own start and
    end banners (about 20 lines) are turned off with its ``silent`` setting;
    :func:`announce_offline_run` prints one line instead.
    """
    if tracker == "none":
        return None, {}
    check_tracker_installed(tracker)
    if tracker != "wandb":
        return tracker, {}
    mode = os.environ.get("WANDB_MODE")
    if mode is None and not wandb_has_credentials():
        mode = "offline"
    kwargs: dict[str, Any] = {"dir": run_dir}
    if mode:
        kwargs["mode"] = mode
    if mode in ("offline", "dryrun"):
        kwargs["settings"] = {"silent": True}
    return "wandb", {"wandb": kwargs}


def run_identity(log: Any, out_dir: str) -> tuple[str, dict[str, Any]]:
    """``(project_name, init_kwargs)`` for ``init_trackers`` from ``log.run_name``, ``log.tags`` and ``log.entity``.

    W&B gets ``name`` (``log.run_name``, else the out_dir folder's name), ``tags`` and ``entity`` (when
    set). Accelerate's TensorBoard tracker writes its events to ``<out_dir>/<project_name>``, so there the
    project name is ``log.run_name`` (else ``log.project``): the run's folder name in TensorBoard's list.
    """
    if log.tracker == "tensorboard":
        return log.run_name or log.project, {}
    wandb_kwargs: dict[str, Any] = {"name": log.run_name or Path(out_dir).name}
    if log.tags:
        wandb_kwargs["tags"] = [str(t) for t in log.tags]
    if log.entity:
        wandb_kwargs["entity"] = log.entity
    return log.project, {"wandb": wandb_kwargs}


def wandb_run(accelerator: Accelerator) -> Any:
    """The run of the W&B tracker of ``accelerator``, or None when it has none."""
    # not get_tracker(): on a process without trackers it returns a blank stand-in rather than None
    return next((t.tracker for t in accelerator.trackers if t.name == "wandb"), None)


def wandb_online(run: Any) -> bool:
    """True when ``run`` uploads as it goes: not offline (``wandb sync`` later) and not disabled."""
    return not (run.offline or run.disabled)


# The run folders logged as W&B model artifacts at the end of training, with their aliases in the artifact's versions.
MODEL_ARTIFACT_ALIASES = {EXPORT_DIR: ["latest"], BEST_DIR: ["best"]}


def tracker_config(values: dict[str, Any], tracker: str) -> dict[str, Any]:
    """The flat run config as ``tracker`` stores it: TensorBoard's hparams take scalars and strings only.

    Lists and None (e.g. ``data.shapes_radius``, ``resume``) would make its start fail.
    """
    if tracker != "tensorboard":
        return values
    return {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in values.items()}


def announce_offline_run(accelerator: Accelerator) -> None:
    """One line saying where an offline W&B run is stored and how to upload it (main process)."""
    run = wandb_run(accelerator)
    if run is None:
        return
    offline, sync_dir = run.settings.mode in ("offline", "dryrun"), run.settings.sync_dir
    if offline and accelerator.is_main_process:
        why = "" if os.environ.get("WANDB_MODE") else " (no W&B credentials found)"
        shown = os.path.relpath(sync_dir)
        shown = sync_dir if shown.startswith("..") else shown
        print(f"wandb: logging offline{why} to {shown}; upload later with `wandb sync {shown}`")


class SafeLogger:
    """Calls ``accelerator.log``; a tracker that raises is reported once and training goes on."""

    def __init__(self, accelerator: Accelerator, enabled: bool) -> None:
        self.accelerator, self.enabled, self._warned = accelerator, enabled, False

    def _warn(self, what: str, err: Exception) -> None:
        if not self._warned:
            warnings.warn(f"tracker {what} failed, continuing without it: {err}", stacklevel=2)
            self._warned = True

    def log(self, values: dict[str, Any], step: int) -> None:
        if not self.enabled:
            return
        try:
            self.accelerator.log(values, step=step)
        except Exception as err:  # a tracker must never stop training or checkpointing
            self._warn("logging", err)

    def log_images(self, name: str, path: str, step: int) -> None:
        """Send the PNG at ``path`` to every tracker of the run (W&B, TensorBoard); the file stays the record."""
        if not self.enabled:
            return
        try:
            with Image.open(path) as image:
                batch = np.asarray(image.convert("RGB"))[None]
        except OSError as err:
            self._warn("image logging", err)
            return
        for tracker in self.accelerator.trackers:
            try:
                tracker.log_images({name: batch}, step=step, **IMAGE_KWARGS.get(tracker.name, {}))
            except Exception as err:  # a tracker must never stop training or checkpointing
                self._warn("image logging", err)

    def log_model(self, run_dir: Path, step: int) -> list[Any]:
        """Log the run's ``export/`` (and ``best/``) as versions of the W&B model artifact ``model-<run id>``.

        Only when W&B runs online (main process): an offline run stays quiet, with nothing queued for
        upload. Returns the logged artifacts; a failure is reported once and the run ends normally.
        """
        run = wandb_run(self.accelerator) if self.enabled and self.accelerator.is_main_process else None
        if run is None or not wandb_online(run):
            return []
        import wandb  # a core dependency, already imported by the tracker

        logged = []
        for folder, aliases in MODEL_ARTIFACT_ALIASES.items():
            if not (run_dir / folder).is_dir():
                continue
            try:
                artifact = wandb.Artifact(f"model-{run.id}", type="model", metadata={"folder": folder, "run_step": step})
                artifact.add_dir(str(run_dir / folder))
                logged.append(run.log_artifact(artifact, aliases=list(aliases)))
            except Exception as err:  # an upload problem must not fail a finished run
                self._warn("model artifact logging", err)
        return logged

    def close(self) -> None:
        if not self.enabled:
            return
        try:
            self.accelerator.end_training()
        except Exception as err:
            warnings.warn(f"tracker shutdown failed: {err}", stacklevel=1)
