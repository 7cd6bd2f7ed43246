"""Untrained, tiny inference exports (GAN generator, segmenter) written directly, without training."""
from __future__ import annotations

from pathlib import Path

import torch

from gan.config import load_config, to_dict
from gan.formats import GENERATOR, SEGMENTER, write_export
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


def tiny_generator(upsample: str = "transposed", spectral: bool = False, **kwargs: object) -> "torch.nn.Module":
    """A 16x16 generator with non-trivial BatchNorm statistics (a few train-mode passes), in eval mode.

    ``spectral``: spectral norm on every conv (a generator-like module that has it, to prove the folding).
    """
    from torch.nn.utils import spectral_norm

    from gan.models import Generator

    torch.manual_seed(0)
    model = Generator(nz=8, channels=3, resolution=16, ngf=8, upsample=upsample, **kwargs)
    if spectral:
        for module in list(model.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                    setattr(module, name, spectral_norm(child))
    model.train()
    with torch.no_grad():
        for _ in range(3):  # running statistics away from (0, 1) and several power iterations
            model(torch.randn(16, 8) * 2)
    return model.eval().requires_grad_(False)


class ConditionalGenerator(torch.nn.Module):
    """A class-conditional generator-like module ``(z, label) -> image`` (a label embedding added to z).

    A minimal stand-in for the toolkit's conditional Generator (which tests/test_combinations.py exports
    for real): it proves the export path's two inputs without the conditioning layers.
    """

    def __init__(self, nz: int = 8, num_classes: int = 3, **kwargs: object) -> None:
        from gan.models import Generator

        super().__init__()
        self.embed = torch.nn.Embedding(num_classes, nz)
        self.net = Generator(nz=nz, **kwargs)

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return self.net(z + 3 * self.embed(label))


def tiny_segmenter(fusion: str = "add", upsample: str = "transposed") -> "torch.nn.Module":
    """A 16x16 RGB 4-class segmenter with non-trivial BatchNorm statistics, in eval mode."""
    from gan.seg.model import SegmentationModel

    torch.manual_seed(0)
    model = SegmentationModel(4, 3, 16, ngf=8, ndf=8, max_channels=16, upsample=upsample, fusion=fusion)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.rand(4, 3, 16, 16) * 2 - 1)
    return model.eval().requires_grad_(False)


SHAPE_NAMES = ["circle", "square", "triangle"]  # the quick start's classes


def write_conditional_hub(folder: Path, seed: int = 0) -> Path:
    """A 16x16 RGB class-conditional generator (random weights, non-trivial BatchNorm statistics) saved with
    ``save_pretrained`` as a hub folder, with the quick start's class names."""
    from gan.models import Generator

    torch.manual_seed(seed)
    model = Generator(nz=8, channels=3, resolution=16, ngf=8, num_classes=3, cond="embed").train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(12, 8) * 2, torch.arange(12) % 3)
    model.export_meta = {"label_names": SHAPE_NAMES, "step": 5}
    model.eval().save_pretrained(folder)
    return folder


def write_seg_hub(folder: Path) -> Path:
    """:func:`tiny_segmenter` saved with ``save_pretrained`` as a hub folder, with class names."""
    model = tiny_segmenter()
    model.export_meta = {"class_names": ["background", *SHAPE_NAMES], "step": 5}
    model.save_pretrained(folder)
    return folder


def populate_hub_cache(cache: Path, repo_id: str, folder: Path, revision: str = "main") -> Path:
    """Put ``folder`` into the Hub cache ``cache`` as the model repo ``repo_id`` at ``revision``, laid out as
    ``snapshot_download`` leaves it (``models--user--name/snapshots/<commit>/`` + ``refs/<revision>``)."""
    import hashlib
    import shutil

    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    shutil.copytree(folder, snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    return snapshot
