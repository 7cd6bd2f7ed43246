"""Untrained, tiny inference exports (GAN generator, segmenter) written directly, without training."""
from __future__ import annotations

from pathlib import Path

import torch

from gan.config import GANConfig, load_config, to_dict
from gan.engine.checkpoint import save_safetensors_atomic, write_json_atomic


def write_gan_export(folder: Path) -> Path:
    """A 16x16 RGB generator export (random weights) in ``folder``."""
    from gan.gan_task import generator_kwargs
    from gan.models import Generator
    from gan.sampling import EXPORT_META, EXPORT_WEIGHTS

    cfg = load_config(GANConfig, None, ["data.resolution=16", "model.nz=8", "model.ngf=8", "model.ndf=8"])
    torch.manual_seed(0)
    model = Generator(**generator_kwargs(cfg))
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors_atomic(model.state_dict(), folder / EXPORT_WEIGHTS)
    write_json_atomic(folder / EXPORT_META, {"model": generator_kwargs(cfg), "step": 0, "config": to_dict(cfg)})
    return folder


def write_seg_export(folder: Path) -> Path:
    """A 16x16 RGB, 4-class segmenter export (random weights) in ``folder``."""
    from gan.seg.config import load_seg_config
    from gan.seg.model import SegmentationModel
    from gan.seg.task import EXPORT_META, EXPORT_WEIGHTS, model_kwargs

    cfg = load_seg_config(None, ["data.resolution=16", "model.ngf=8", "model.ndf=8", "model.max_channels=16"])
    torch.manual_seed(0)
    model = SegmentationModel(**model_kwargs(cfg, 4))
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors_atomic(model.state_dict(), folder / EXPORT_WEIGHTS)
    meta = {"model": model_kwargs(cfg, 4), "class_names": ["bg", "a", "b", "c"], "ignore_index": 255, "step": 0, "metrics": None, "config": to_dict(cfg)}
    write_json_atomic(folder / EXPORT_META, meta)
    return folder
