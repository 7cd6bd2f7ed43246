"""Experiment tracking through Accelerate's tracker API, safe offline and against tracker failures."""
from __future__ import annotations

import netrc
import os
import warnings
from typing import Any

from accelerate import Accelerator


def wandb_has_credentials() -> bool:
    """True when W&B could log in without asking: an API key in the environment or ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def tracker_settings(tracker: str, run_dir: str) -> tuple[str | None, dict[str, Any]]:
    """Return ``(log_with, init_kwargs)`` for :class:`Accelerator` and ``init_trackers``.

    W&B without credentials (no network, no login) falls back to offline mode instead of
    prompting or hanging; an explicit ``WANDB_MODE`` is respected.
    """
    if tracker == "none":
        return None, {}
    if tracker == "tensorboard":
        return "tensorboard", {}
    mode = os.environ.get("WANDB_MODE")
    if mode is None and not wandb_has_credentials():
        mode = "offline"
        print("wandb: no credentials found, logging offline to the run directory (sync later with `wandb sync`)")
    kwargs: dict[str, Any] = {"dir": run_dir}
    if mode:
        kwargs["mode"] = mode
    return "wandb", {"wandb": kwargs}


class SafeLogger:
    """Calls ``accelerator.log``; a tracker that raises is reported once and training goes on."""

    def __init__(self, accelerator: Accelerator, enabled: bool) -> None:
        self.accelerator, self.enabled, self._warned = accelerator, enabled, False

    def log(self, values: dict[str, Any], step: int) -> None:
        if not self.enabled:
            return
        try:
            self.accelerator.log(values, step=step)
        except Exception as err:  # a tracker must never stop training or checkpointing
            if not self._warned:
                warnings.warn(f"tracker logging failed, continuing without it: {err}", stacklevel=1)
                self._warned = True

    def log_images(self, name: str, path: str, step: int) -> None:
        """Send a PNG to trackers that take images (W&B); others keep it on disk only."""
        if not self.enabled:
            return
        try:
            tracker = self.accelerator.get_tracker("wandb", unwrap=True)
            import wandb

            tracker.log({name: wandb.Image(path)}, step=step)
        except Exception:  # tracker absent or not image-capable: the PNG on disk is the record
            pass

    def close(self) -> None:
        if not self.enabled:
            return
        try:
            self.accelerator.end_training()
        except Exception as err:
            warnings.warn(f"tracker shutdown failed: {err}", stacklevel=1)
