"""Periodic evaluation during training: metrics log + plot in the run directory, and a `best` export.

DCGAN runs often peak and then collapse, so the weights with the lowest FID (or KID when FID is
not computed) are kept in ``<out_dir>/best/`` next to a ``best.json`` naming the value and step.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..engine.stats import append_jsonl, plot_curves, read_jsonl
from ..process.stop import StopRequested
from ..formats import BEST_DIR, BEST_JSON, EVAL_DIR, replace_folder, write_json_atomic
from .evaluator import Evaluator, write_result
from .metrics import best_key


class PeriodicEvaluation:
    """Hook function: score ``generator()`` and keep the best export written by ``write_export``.

    Args:
        evaluator: scores a generator (:class:`gan.evaluation.evaluator.Evaluator`).
        run_dir: where ``eval/`` and ``best/`` go.
        generator: returns the model to score (the EMA generator) at each call.
        nz: its latent size.
        write_export: ``write_export(folder, step)`` writes the export kept as the best one.
        resume: a resumed run compares with the run's existing ``best/``; a fresh one does not.
        num_classes: > 0 for a conditional generator (``class_accuracy``, ``eval.per_class``).
    """

    def __init__(self, evaluator: Evaluator, run_dir: Path, generator: Callable[[], nn.Module], nz: int,
                 write_export: Callable[[Path, int], None], resume: bool, num_classes: int = 0) -> None:
        self.evaluator, self.run_dir, self.generator, self.nz = evaluator, run_dir, generator, nz
        self.num_classes = num_classes  # > 0: a conditional generator (class_accuracy, eval.per_class)
        self.write_export = write_export
        self.eval_dir = run_dir / EVAL_DIR
        self.best: dict[str, Any] | None = None  # a fresh run must not compare against an old one
        # Read at the first evaluation, after the trainer's resume: a rewind moves the abandoned history's best/ aside.
        self._best_unread = resume

    def __call__(self, step: int) -> dict[str, float] | None:
        model = self.generator()
        device = next(model.parameters()).device
        # Evaluation must not shift the training run's random streams (resumed runs stay identical).
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            try:
                result = self.evaluator.evaluate_generator(model, self.nz, source=f"EMA generator, step {step}", num_classes=self.num_classes)
            except StopRequested:  # preempted: the trainer saves a checkpoint at the step boundary right after
                print(f"eval at step {step}: stopped early, a stop signal arrived (this evaluation is not recorded)")
                return None
        write_result(self.eval_dir / f"step-{step:07d}.json", result, step=step)
        append_jsonl(self.eval_dir / "metrics.jsonl", {"step": step, **result.values})
        plot_curves(read_jsonl(self.eval_dir / "metrics.jsonl"), list(result.values), self.eval_dir / "metrics.png", "evaluation metrics")
        kept = self._keep_if_best(step, result.values)
        print(f"eval at step {step}: " + ", ".join(f"{k}={v:.4g}" for k, v in result.values.items()) + (" (new best)" if kept else ""))
        return {f"eval/{k}": v for k, v in result.values.items()}

    def _keep_if_best(self, step: int, values: dict[str, float]) -> bool:
        if self._best_unread:
            self.best, self._best_unread = read_best(self.run_dir), False
        key = best_key(values)
        if key is None or (self.best is not None and self.best["metric"] == key and values[key] >= self.best["value"]):
            return False
        self.best = {"metric": key, "value": values[key], "step": step, "eval_json": f"{EVAL_DIR}/step-{step:07d}.json"}
        replace_folder(self.run_dir / BEST_DIR, lambda tmp: self._write_best(tmp, step))
        return True

    def _write_best(self, folder: Path, step: int) -> None:
        self.write_export(folder, step)
        write_json_atomic(folder / BEST_JSON, self.best)


def read_best(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / BEST_DIR / BEST_JSON
    return json.loads(path.read_text()) if path.is_file() else None


__all__ = ["PeriodicEvaluation", "read_best"]
