"""Confusion-matrix metrics, losses and class weights against values computed by hand."""
from __future__ import annotations

import math

import torch

from gan.seg.losses import SegLoss, median_frequency_weights, soft_dice_loss
from gan.seg.metrics import confusion_matrix, metrics_from_confusion

IGN = 255


def test_confusion_matrix_and_metrics_by_hand_with_ignored_pixels() -> None:
    target = torch.tensor([[0, 0, 1, 1], [2, 2, IGN, IGN]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 0]])  # the two ignored pixels must not count
    cm = confusion_matrix(pred, target, num_classes=3, ignore_index=IGN)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    m = metrics_from_confusion(cm)
    # IoU: class0 1/(2+2-1)=1/3, class1 2/(2+3-2)=2/3, class2 1/(2+1-1)=1/2
    assert [round(v, 6) for v in m.iou] == [round(1 / 3, 6), round(2 / 3, 6), 0.5]
    assert math.isclose(m.miou, (1 / 3 + 2 / 3 + 0.5) / 3)
    assert math.isclose(m.pixel_acc, 4 / 6)
    assert math.isclose(m.class_acc, (1 / 2 + 1 + 1 / 2) / 3)
    assert m.absent == []


def test_batches_summed_before_ratios_and_absent_class_left_out() -> None:
    t1, p1 = torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 1, 1])
    t2, p2 = torch.tensor([1, 1]), torch.tensor([1, 0])
    cm = confusion_matrix(p1, t1, 3) + confusion_matrix(p2, t2, 3)
    assert cm.tolist() == [[2, 1, 0], [1, 2, 0], [0, 0, 0]]
    m = metrics_from_confusion(cm)
    assert math.isnan(m.iou[2]) and m.absent == [2]
    assert math.isclose(m.miou, 0.5)  # (2/4 + 2/4) / 2: class 2 left out of the mean
    assert "left out of the mean" in m.summary(["a", "b", "c"]) and "c n/a" in m.summary(["a", "b", "c"])
    logged = m.as_log(["a", "b", "c"])
    assert logged["val/miou"] == 0.5 and "val/iou/c" not in logged


def test_class_predicted_but_absent_from_labels_counts_with_iou_zero() -> None:
    cm = confusion_matrix(torch.tensor([0, 2]), torch.tensor([0, 0]), 3)
    m = metrics_from_confusion(cm)
    assert m.iou[2] == 0.0 and m.absent == [1]
    assert math.isclose(m.miou, (0.5 + 0.0) / 2)


def test_median_frequency_weights_by_hand() -> None:
    # class 0: 90 px over images totalling 100 px -> 0.9; class 1: 10/100 -> 0.1; class 2: 20/40 -> 0.5
    w = median_frequency_weights(torch.tensor([90.0, 10.0, 20.0]), torch.tensor([100.0, 100.0, 40.0]))
    assert torch.allclose(w, torch.tensor([0.5 / 0.9, 0.5 / 0.1, 1.0]))
    unseen = median_frequency_weights(torch.tensor([5.0, 0.0]), torch.tensor([10.0, 0.0]))
    assert unseen.tolist() == [1.0, 1.0]


def test_losses_ignore_pixels_and_dice_is_zero_for_a_perfect_prediction() -> None:
    target = torch.tensor([[[0, 1], [1, IGN]]])
    perfect = torch.nn.functional.one_hot(target.clamp(max=1), 2).permute(0, 3, 1, 2).float() * 50
    perfect[0, :, 1, 1] = torch.tensor([-50.0, 50.0])  # wrong on the ignored pixel only
    assert float(soft_dice_loss(perfect, target, IGN)) < 1e-6
    loss, parts = SegLoss(IGN, dice_weight=1.0)(perfect, target)
    assert float(loss) < 1e-6 and set(parts) == {"ce", "dice", "loss"}
    uniform = torch.zeros(1, 2, 2, 2)
    ce, _ = SegLoss(IGN)(uniform, target)
    assert math.isclose(float(ce), math.log(2), rel_tol=1e-6)
