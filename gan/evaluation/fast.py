"""The Inception feature pass on a CPU, as fast as the hardware allows, with the same features.

torch-fidelity's ``FeatureExtractorInceptionV3`` runs each convolution, then its batch norm (a
separate pass over memory), in NCHW. On a CPU the toolkit's copy of the extractor instead has each
batch norm folded into its convolution (the TF graph's batch norms have fixed statistics, so the
fold is exact up to float rounding) and its weights in NHWC (``channels_last``), oneDNN's native
layout; the pass runs under ``torch.inference_mode``. Features stay float32 and equal the plain
pass to float rounding (tests/test_eval_speed.py checks 1e-4; benchmarks/eval_speed.py measures
the speed). Threads are the process's (all physical cores by default, ``train.cpu_threads`` in
training). Only the toolkit's own extractor instance is changed, never torch-fidelity's class.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch_fidelity.feature_extractor_inceptionv3 import BasicConv2d, FeatureExtractorInceptionV3


def fold_batch_norms(model: nn.Module) -> int:
    """Fold every ``BasicConv2d``'s batch norm into its convolution (the block computes relu(bn(conv(x)))); how many were folded."""
    folded = 0
    for block in model.modules():
        if isinstance(block, BasicConv2d) and isinstance(block.bn, nn.BatchNorm2d):
            block.conv = fuse_conv_bn_eval(block.conv.eval(), block.bn.eval())
            block.bn = nn.Identity()
            folded += 1
    return folded


def prepare_extractor(fe: nn.Module, device: torch.device) -> nn.Module:
    """``fe`` set up for the fast pass on ``device``: on a CPU, an InceptionV3 gets folded batch norms and NHWC weights.

    Other extractors (a user's module or TorchScript file) and other devices are returned as they are.
    """
    if device.type != "cpu" or not isinstance(fe, FeatureExtractorInceptionV3):
        return fe
    fold_batch_norms(fe)
    return fe.to(memory_format=torch.channels_last)
