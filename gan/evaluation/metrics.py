"""The metrics users can ask for by name, and how they map onto torch-fidelity's flags and keys."""
from __future__ import annotations

from dataclasses import dataclass

from ..names import EVAL_METRIC_ALIASES as ALIASES
from .weights import EvalError


@dataclass(frozen=True)
class Metric:
    """One user-facing metric: the torch-fidelity flag that computes it and the keys it returns."""

    name: str
    flag: str  # calculate_metrics keyword: fid / kid / isc / prc
    keys: dict[str, str]  # torch-fidelity result key -> our key
    needs_real: bool = True
    fidelity: bool = True  # computed by torch-fidelity from extractor features (else by gan.evaluation.class_metrics)


# One entry per name of gan.names.EVAL_METRICS.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("fid", "fid", {"frechet_inception_distance": "fid"}),
        Metric("kid", "kid", {"kernel_inception_distance_mean": "kid_mean", "kernel_inception_distance_std": "kid_std"}),
        Metric("is", "isc", {"inception_score_mean": "is_mean", "inception_score_std": "is_std"}, needs_real=False),
        Metric("prc", "prc", {"precision": "precision", "recall": "recall", "f_score": "f_score"}),
        Metric("class_accuracy", "class_accuracy", {"class_accuracy": "class_accuracy"}, needs_real=False, fidelity=False),
    )
}
# Lower is better for these; the first one present picks the `best` export during training.
BEST_KEYS = ("fid", "kid_mean")


def parse_metrics(names: list[str]) -> list[Metric]:
    """Metrics for ``names`` (aliases allowed, duplicates dropped); one-line error for unknown names."""
    out: list[Metric] = []
    for raw in names:
        name = ALIASES.get(raw.strip().lower(), raw.strip().lower())
        if name not in METRICS:
            known = ", ".join(list(METRICS) + list(ALIASES))
            raise EvalError(f"eval.metrics: unknown metric {raw!r}; expected some of {known}")
        if METRICS[name] not in out:
            out.append(METRICS[name])
    if not out:
        raise EvalError("eval.metrics is empty; name at least one of " + ", ".join(METRICS))
    return out


def rename_results(raw: dict[str, float], metrics: list[Metric]) -> dict[str, float]:
    """torch-fidelity's long result keys -> our short ones, in the order the metrics were asked for."""
    return {ours: float(raw[theirs]) for m in metrics for theirs, ours in m.keys.items()}


def best_key(values: dict[str, float]) -> str | None:
    """The lower-is-better key that decides the `best` export, or None when none was computed."""
    return next((k for k in BEST_KEYS if k in values), None)


def format_table(values: dict[str, float]) -> str:
    """Two aligned columns, one metric a line."""
    width = max(len(k) for k in values)
    return "\n".join(f"{k:<{width}}  {v:.6g}" for k, v in values.items())
