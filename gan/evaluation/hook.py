"""Periodic evaluation during training: metrics log + plot in the run directory, and a `best` export.

DCGAN runs often peak and then collapse, so the weights with the lowest FID (or KID when FID is
not computed) are kept in ``<out_dir>/best/`` by the run's :class:`gan.engine.best.BestKeeper`, next
to a ``best.json`` naming the value, the step and this evaluation's ``eval/step-<step>.json``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..engine.best import BestKeeper
from ..engine.stats import append_jsonl, plot_curves, read_jsonl
from ..formats import EVAL_DIR
from ..process.stop import StopRequested
from .evaluator import Evaluator, write_result
from .metrics import best_key


class PeriodicEvaluation:
    """Hook function: score ``generator()`` and offer the score to ``keeper`` with the export ``write_export`` writes.

    Args:
        evaluator: scores a generator (:class:`gan.evaluation.evaluator.Evaluator`).
        run_dir: where ``eval/`` goes.
        generator: returns the model to score (the EMA generator) at each call.
        nz: its latent size.
        write_export: ``write_export(folder, step)`` writes the export kept as the best one.
        keeper: keeps ``best/`` (its record is in the run's checkpoints).
        num_classes: > 0 for a conditional generator (``class_accuracy``, ``eval.per_class``).
    """

    def __init__(self, evaluator: Evaluator, run_dir: Path, generator: Callable[[], nn.Module], nz: int,
                 write_export: Callable[[Path, int], None], keeper: BestKeeper, num_classes: int = 0) -> None:
        self.evaluator, self.run_dir, self.generator, self.nz = evaluator, run_dir, generator, nz
        self.num_classes = num_classes
        self.write_export, self.keeper = write_export, keeper
        self.eval_dir = run_dir / EVAL_DIR

    def __call__(self, step: int) -> dict[str, float] | None:
        model = self.generator()
        device = next(model.parameters()).device
        # Evaluation must not shift the training run's random streams (resumed runs stay identical).
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            try:
                result = self.evaluator.evaluate_generator(model, self.nz, source=f"EMA generator, step {step}",
                                                           num_classes=self.num_classes)
            except StopRequested:  # preempted: the trainer saves a checkpoint at the step boundary right after
                print(f"eval at step {step}: stopped early, a stop signal arrived (this evaluation is not recorded)")
                return None
        step_json = f"step-{step:07d}.json"
        write_result(self.eval_dir / step_json, result, step=step)
        log = self.eval_dir / "metrics.jsonl"
        append_jsonl(log, {"step": step, **result.values})
        plot_curves(read_jsonl(log), list(result.values), self.eval_dir / "metrics.png", "evaluation metrics")
        key = best_key(result.values)
        kept = key is not None and self.keeper.offer(step, key, result.values[key],
                                                     lambda folder: self.write_export(folder, step),
                                                     eval_json=f"{EVAL_DIR}/{step_json}")
        values = ", ".join(f"{k}={v:.4g}" for k, v in result.values.items())
        print(f"eval at step {step}: {values}" + (" (new best)" if kept else ""))
        return {f"eval/{k}": v for k, v in result.values.items()}


__all__ = ["PeriodicEvaluation"]
