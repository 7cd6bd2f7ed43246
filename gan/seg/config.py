"""Config schema of segmentation training (reuses the train/log/checkpoint sections of the GAN)."""
from __future__ import annotations

import dataclasses
from typing import Literal

from ..config import CheckpointConfig, LogConfig, TrainConfig, _check, validate

AUGMENTATIONS = ("hflip", "vflip", "rot90", "rotate", "crop", "color")


@dataclasses.dataclass
class SegDataConfig:
    name: Literal["shapes", "pairs", "voc", "camvid"] = "shapes"
    root: str = "data"  # pairs: folder with images/ and masks/; camvid: the SegNet layout; voc: torchvision root
    resolution: int = 32  # images and masks are resized (shorter side) and centre-cropped to this
    channels: int = 3
    num_classes: int = 0  # 0 = the dataset's own (shapes 4, voc 21, camvid 11); required for pairs
    class_names: list[str] = dataclasses.field(default_factory=list)
    mask_values: list[int] = dataclasses.field(default_factory=list)  # pairs: raw mask value of class i, e.g. [0, 255]
    ignore_index: int = 255  # label excluded from the loss and the metrics
    void_label: int = 11  # camvid: this label becomes ignore_index
    val_stems: list[str] = dataclasses.field(default_factory=list)  # pairs: file stems held out for validation
    val_fraction: float = 0.2  # pairs without val_stems: the last part of the sorted stems
    label_fraction: float = 1.0  # train on a seeded subset of the labelled training images
    voc_year: str = "2012"
    download: bool = False
    shapes_size: int = 2000
    shapes_val_size: int = 128
    shapes_seed: int = 0
    num_workers: int = 0
    augment: list[str] = dataclasses.field(default_factory=lambda: ["hflip"])  # see AUGMENTATIONS


@dataclasses.dataclass
class SegModelConfig:
    encoder: Literal["conv", "resnet18", "resnet34", "resnet50"] = "conv"
    encoder_weights: str = ""  # resnet: "" (random), "imagenet" (torchvision cache) or a state-dict file
    ngf: int = 32  # decoder width (as the generator's ngf: needed for weight transfer)
    ndf: int = 32  # conv encoder width (as the discriminator's ndf)
    max_channels: int = 256
    upsample: Literal["transposed", "resize_conv", "pixel_shuffle"] = "transposed"
    norm: Literal["batch", "none"] = "batch"
    fusion: Literal["none", "add", "average", "weighted", "concat"] = "add"


@dataclasses.dataclass
class SegLossConfig:
    dice_weight: float = 0.0  # total = cross-entropy + dice_weight * soft Dice
    class_weights: Literal["none", "median_frequency"] = "none"
    class_weight_images: int = 500  # training images scanned for median-frequency weights


@dataclasses.dataclass
class SegOptimConfig:
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    weight_decay: float = 1e-4
    schedule: Literal["constant", "cosine"] = "cosine"


@dataclasses.dataclass
class SegEvalConfig:
    every: int = 100  # steps between evaluations on the validation set (and at the end)
    batch_size: int = 16
    overlay_images: int = 4  # validation images shown in each overlay PNG


@dataclasses.dataclass
class TransferConfig:
    encoder: bool = False  # also load the discriminator's blocks into the conv encoder
    freeze_decoder_steps: int = 0  # transferred decoder stages stay frozen for this many steps


@dataclasses.dataclass
class SegConfig:
    out_dir: str = "runs/seg"
    resume: str = ""  # "", "latest" or a checkpoint folder
    overwrite: bool = False  # a fresh run into an out_dir holding another run's outputs deletes them first
    init_from: str = ""  # GAN export / checkpoint / run folder whose decoder initialises ours
    data: SegDataConfig = dataclasses.field(default_factory=SegDataConfig)
    model: SegModelConfig = dataclasses.field(default_factory=SegModelConfig)
    loss: SegLossConfig = dataclasses.field(default_factory=SegLossConfig)
    optim: SegOptimConfig = dataclasses.field(default_factory=SegOptimConfig)
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(steps=500, batch_size=16))
    log: LogConfig = dataclasses.field(default_factory=LogConfig)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=lambda: CheckpointConfig(every=500))
    eval: SegEvalConfig = dataclasses.field(default_factory=SegEvalConfig)
    transfer: TransferConfig = dataclasses.field(default_factory=TransferConfig)


def validate_seg(cfg: SegConfig) -> None:
    """Range checks of the segmentation sections (the shared ones are checked by ``validate``)."""
    validate(cfg)
    d, m = cfg.data, cfg.model
    _check(d.resolution >= 16, "data.resolution", d.resolution, ">= 16 for segmentation")
    _check(d.num_classes >= 0, "data.num_classes", d.num_classes, ">= 0 (0 = the dataset's own)")
    _check(d.name != "pairs" or d.num_classes >= 2 or len(d.mask_values) >= 2, "data.num_classes", d.num_classes, ">= 2 for data.name=pairs (or give data.mask_values)")
    _check(0.0 < d.label_fraction <= 1.0, "data.label_fraction", d.label_fraction, "in (0, 1]")
    _check(0.0 < d.val_fraction < 1.0, "data.val_fraction", d.val_fraction, "in (0, 1)")
    _check(d.shapes_val_size > 0, "data.shapes_val_size", d.shapes_val_size, "> 0")
    _check(0 <= d.ignore_index, "data.ignore_index", d.ignore_index, ">= 0")
    for name in d.augment:
        _check(name in AUGMENTATIONS, "data.augment", name, "names among " + ", ".join(AUGMENTATIONS))
    for key in ("ngf", "ndf", "max_channels"):
        _check(getattr(m, key) >= 1, f"model.{key}", getattr(m, key), ">= 1")
    _check(cfg.loss.dice_weight >= 0, "loss.dice_weight", cfg.loss.dice_weight, ">= 0")
    _check(cfg.loss.class_weight_images >= 1, "loss.class_weight_images", cfg.loss.class_weight_images, ">= 1")
    _check(cfg.optim.lr > 0, "optim.lr", cfg.optim.lr, "> 0")
    _check(cfg.eval.every >= 1, "eval.every", cfg.eval.every, ">= 1")
    _check(cfg.eval.batch_size >= 1, "eval.batch_size", cfg.eval.batch_size, ">= 1")
    _check(cfg.eval.overlay_images >= 0, "eval.overlay_images", cfg.eval.overlay_images, ">= 0")
    _check(cfg.transfer.freeze_decoder_steps >= 0, "transfer.freeze_decoder_steps", cfg.transfer.freeze_decoder_steps, ">= 0")


def load_seg_config(path: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> SegConfig:
    """Load a :class:`SegConfig` from YAML + dotted overrides, with all range checks."""
    from ..config import load_config

    cfg = load_config(SegConfig, path, overrides)
    validate_seg(cfg)
    return cfg
