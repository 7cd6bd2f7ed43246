"""Segmentation metrics from one confusion matrix summed over a whole evaluation set.

``confusion[t, p]`` counts pixels of true class ``t`` predicted as ``p``; pixels labelled
``ignore_index`` are left out. Per-batch matrices are added up (and summed across processes) before
any ratio is taken, so the metrics do not depend on batch size or sharding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = 255) -> torch.Tensor:
    """``(num_classes, num_classes)`` int64 counts for predicted and true label maps of the same shape."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    valid = target != ignore_index
    t, p = target[valid].long(), pred[valid].long()
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
        raise ValueError(f"target holds class {int(t.max())} outside 0..{num_classes - 1}")
    return torch.bincount(t * num_classes + p, minlength=num_classes**2).view(num_classes, num_classes)


@dataclass
class SegMetrics:
    """mIoU, per-class IoU (NaN for a class absent from labels and predictions), accuracies."""

    miou: float
    iou: list[float]
    pixel_acc: float
    class_acc: float
    absent: list[int]  # classes left out of the means (no pixel in labels nor predictions)

    def as_log(self, class_names: list[str], prefix: str = "val/") -> dict[str, float]:
        out = {f"{prefix}miou": self.miou, f"{prefix}pixel_acc": self.pixel_acc, f"{prefix}class_acc": self.class_acc}
        out.update({f"{prefix}iou/{name}": v for name, v in zip(class_names, self.iou) if not math.isnan(v)})
        return out

    def summary(self, class_names: list[str]) -> str:
        ious = ", ".join(f"{n} {v:.3f}" if not math.isnan(v) else f"{n} n/a" for n, v in zip(class_names, self.iou))
        text = f"mIoU {self.miou:.4f} | pixel acc {self.pixel_acc:.4f} | class acc {self.class_acc:.4f} | IoU: {ious}"
        if self.absent:
            text += f" | left out of the mean (absent from labels and predictions): {', '.join(class_names[i] for i in self.absent)}"
        return text


def _nanmean(values: torch.Tensor) -> float:
    kept = values[~torch.isnan(values)]
    return float(kept.mean()) if kept.numel() else float("nan")


def metrics_from_confusion(confusion: torch.Tensor) -> SegMetrics:
    """Metrics of a summed confusion matrix (computed in float64)."""
    cm = confusion.double()
    tp, gt, predicted = cm.diag(), cm.sum(1), cm.sum(0)
    union = gt + predicted - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
    recall = torch.where(gt > 0, tp / gt.clamp(min=1), torch.full_like(tp, float("nan")))
    total = float(cm.sum())
    return SegMetrics(
        miou=_nanmean(iou),
        iou=iou.tolist(),
        pixel_acc=float(tp.sum()) / total if total else float("nan"),
        class_acc=_nanmean(recall),
        absent=[i for i in range(len(iou)) if float(union[i]) == 0],
    )
