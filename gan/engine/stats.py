"""Collecting reported values (losses, metrics), the per-step JSONL log and its PNG plots."""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import torch


class StatsCollector:
    """Losses report values with :meth:`add`; :meth:`means` returns window averages and resets."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def add(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            self._sums[key] += float(value)
            self._counts[key] += 1

    def means(self) -> dict[str, float]:
        out = {k: self._sums[k] / self._counts[k] for k in self._sums}
        self._sums.clear()
        self._counts.clear()
        return out


def append_jsonl(path: Path, *records: dict) -> None:
    with open(path, "a") as f:
        f.write("".join(json.dumps(record) + "\n" for record in records))


def to_host(rows: list[dict[str, Any]]) -> list[dict[str, float]]:
    """``rows`` with every tensor value turned into a float, by one device-to-host copy for all of them.

    Training steps leave their losses on the device; reading them one by one would make the host
    wait for the device after every step.
    """
    tensors = [v.detach().float().reshape(()) for row in rows for v in row.values() if torch.is_tensor(v)]
    values = iter(torch.stack(tensors).tolist() if tensors else [])
    return [{k: next(values) if torch.is_tensor(v) else float(v) for k, v in row.items()} for row in rows]


def read_jsonl(path: Path) -> list[dict]:
    """Records of a log; after a resume the newest record of a repeated step wins."""
    if not path.exists():
        return []
    by_step: dict[int, dict] = {}
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a crash
            continue
        by_step[int(rec["step"])] = rec
    return [by_step[k] for k in sorted(by_step)]


def _smooth(values: list[float], window: int) -> list[float]:
    out, acc = [], []
    for v in values:
        acc.append(v)
        if len(acc) > window:
            acc.pop(0)
        out.append(sum(acc) / len(acc))
    return out


def plot_curves(records: Iterable[dict], keys: list[str], path: Path, title: str, smooth: int = 1) -> bool:
    """Plot ``keys`` of ``records`` against their step into ``path``; returns False if nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = list(records)
    keys = [k for k in keys if any(k in r for r in records)]
    if not keys:
        return False
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * len(keys)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        pts = [(r["step"], r[key]) for r in records if key in r and math.isfinite(r[key])]
        if pts:
            steps, vals = zip(*pts)
            ax.plot(steps, vals, alpha=0.3 if smooth > 1 else 1.0, lw=0.8)
            if smooth > 1:
                ax.plot(steps, _smooth(list(vals), smooth), lw=1.5)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return True
