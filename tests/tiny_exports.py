"""Untrained, tiny inference exports (GAN generator, segmenter) written directly, without training."""
from __future__ import annotations

from pathlib import Path

import torch

from gan.config import load_config, to_dict
from gan.engine.formats import GENERATOR, SEGMENTER, write_export
from gan.generation.config import GANConfig


def write_gan_export(folder: Path) -> Path:
    """A 16x16 RGB generator export (random weights) in ``folder``."""
    from gan.generation.task import generator_kwargs
    from gan.models import Generator

    cfg = load_config(GANConfig, None, ["data.resolution=16", "model.nz=8", "model.ngf=8", "model.ndf=8"])
    torch.manual_seed(0)
    model = Generator(**generator_kwargs(cfg))
    write_export(folder, GENERATOR, model.state_dict(), {"model": generator_kwargs(cfg), "step": 0, "config": to_dict(cfg)})
    return folder


def write_seg_export(folder: Path) -> Path:
    """A 16x16 RGB, 4-class segmenter export (random weights) in ``folder``."""
    from gan.seg.config import load_seg_config
    from gan.seg.model import SegmentationModel
    from gan.seg.task import model_kwargs

    cfg = load_seg_config(None, ["data.resolution=16", "model.ngf=8", "model.ndf=8", "model.max_channels=16"])
    torch.manual_seed(0)
    model = SegmentationModel(**model_kwargs(cfg, 4))
    meta = {"model": model_kwargs(cfg, 4), "class_names": ["bg", "a", "b", "c"], "ignore_index": 255, "step": 0, "metrics": None, "config": to_dict(cfg)}
    write_export(folder, SEGMENTER, model.state_dict(), meta)
    return folder
