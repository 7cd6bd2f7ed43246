"""Config schema of segmentation training (the shared sections come from :mod:`gan.config`)."""
from __future__ import annotations

import dataclasses
import math
from typing import Literal

from ..config import (
    MAX_CHANNELS, Check, CheckpointConfig, LogConfig, RunConfig, Section, TrainConfig, adam_checks, load_config, resumable,
)
from ..names import (
    FUSION_MODES, G_NORMS, LR_SCHEDULES, SEG_AUGMENTATIONS, SEG_CLASS_WEIGHTS, SEG_DATASETS, SEG_ENCODER_BN, SEG_EVAL_SPLITS, UPSAMPLE_MODES,
)
from .encoder_names import NO_WEIGHTS, timm_problem

MAX_FRAME_SIDE = 4096  # data.size / data.crop sides


@dataclasses.dataclass
class SegDataConfig(Section):
    name: Literal[SEG_DATASETS] = "shapes"  # type: ignore[valid-type]  # dataset: embedded shapes, image/mask folder pairs, camvid or voc
    root: str = "data"  # pairs: folder with images/ and masks/; camvid: the SegNet layout; voc: torchvision root
    resolution: int = 32  # without data.size: images and masks are resized (shorter side) and centre-cropped to this; always the model's working size (depth)
    size: list[int] = dataclasses.field(default_factory=list)  # [H, W]: whole frames resized to this (masks nearest); [] = resolution x resolution
    crop: list[int] = dataclasses.field(default_factory=list)  # training only: random [h, w] crops of the resized frames; [] = whole frames
    scale_jitter: list[float] = dataclasses.field(default_factory=list)  # training only: [lo, hi] random rescale before the crop (needs data.crop)
    split_eval: Literal[SEG_EVAL_SPLITS] = "val"  # type: ignore[valid-type]  # camvid: the split scored during training
    channels: int = 3  # 1 = grayscale, 3 = RGB input images
    num_classes: int = 0  # 0 = the dataset's own (shapes 4, voc 21, camvid 11); required for pairs
    class_names: list[str] = dataclasses.field(default_factory=list)  # names of the classes (default: the dataset's own)
    mask_values: list[int] = dataclasses.field(default_factory=list)  # pairs: raw mask value of class i, e.g. [0, 255]
    ignore_index: int = 255  # label excluded from the loss and the metrics
    void_label: int = 11  # camvid: this label becomes ignore_index
    val_stems: list[str] = dataclasses.field(default_factory=list)  # pairs: file stems held out for validation
    val_fraction: float = 0.2  # pairs without val_stems: the last part of the sorted stems
    label_fraction: float = 1.0  # train on a seeded subset of the labelled training images
    voc_year: str = "2012"  # voc: the Pascal VOC year
    download: bool = resumable(False)  # torchvision datasets download only when this is true
    shapes_size: int = 2000  # shapes: training images
    shapes_val_size: int = 128  # shapes: validation images
    shapes_seed: int = 0  # shapes: seed of the procedural images
    num_workers: int = resumable(0)  # dataloader worker processes
    augment: list[str] = dataclasses.field(default_factory=lambda: ["hflip"])  # names from gan.names.SEG_AUGMENTATIONS
    max_image_pixels: int = resumable(89_478_485)  # images larger than this (by their header) are refused; PIL's default limit

    def frame_size(self) -> tuple[int, int]:
        """``(H, W)`` of every resized frame (what evaluation scores, unless eval.native_size)."""
        return (self.size[0], self.size[1]) if len(self.size) == 2 else (self.resolution, self.resolution)

    def train_size(self) -> tuple[int, int]:
        """``(h, w)`` of a training sample: the crop, else the whole frame."""
        return (self.crop[0], self.crop[1]) if len(self.crop) == 2 else self.frame_size()

    def checks(self) -> list[Check]:
        unknown = [a for a in self.augment if a not in SEG_AUGMENTATIONS]
        frame, train = self.frame_size(), self.train_size()
        jitter_ok = len(self.scale_jitter) == 0 or (len(self.scale_jitter) == 2 and 0 < self.scale_jitter[0] <= self.scale_jitter[1] <= 4)
        return [
            ("resolution", 16 <= self.resolution <= 256, "16..256 for segmentation"),
            ("size", len(self.size) in (0, 2) and all(16 <= s <= MAX_FRAME_SIDE for s in self.size), f"[] or [H, W] with sides in 16..{MAX_FRAME_SIDE}"),
            ("size", self.name != "shapes" or not self.size, "[] for data.name=shapes (square images: use data.resolution)"),
            ("crop", len(self.crop) in (0, 2) and all(16 <= c for c in self.crop), "[] or [h, w] with sides >= 16"),
            ("crop", train[0] <= frame[0] and train[1] <= frame[1], f"at most the frame size {list(frame)} (data.size or data.resolution)"),
            ("scale_jitter", jitter_ok, "[] or [lo, hi] with 0 < lo <= hi <= 4"),
            ("scale_jitter", not self.scale_jitter or bool(self.crop), "[] without data.crop (jittered frames differ in size: crop them to one)"),
            ("augment", "rot90" not in self.augment or train[0] == train[1], f"no rot90 for non-square training samples {list(train)}"),
            ("split_eval", self.name == "camvid" or self.split_eval == "val", "val (test exists for data.name=camvid only)"),
            ("channels", self.channels in (1, 3), "1 or 3"),
            ("num_workers", self.num_workers >= 0, ">= 0"),
            ("num_classes", self.num_classes >= 0, ">= 0 (0 = the dataset's own)"),
            ("num_classes", self.name != "pairs" or self.num_classes >= 2 or len(self.mask_values) >= 2,
             ">= 2 for data.name=pairs (or give data.mask_values)"),
            ("label_fraction", 0.0 < self.label_fraction <= 1.0, "in (0, 1]"),
            ("val_fraction", 0.0 < self.val_fraction < 1.0, "in (0, 1)"),
            ("shapes_size", self.shapes_size > 0, "> 0"),
            ("shapes_val_size", self.shapes_val_size > 0, "> 0"),
            ("ignore_index", self.ignore_index >= 0, ">= 0"),
            ("augment", not unknown, "names among " + ", ".join(SEG_AUGMENTATIONS), unknown[0] if unknown else None),
            ("max_image_pixels", self.max_image_pixels >= 1, ">= 1"),
        ]


@dataclasses.dataclass
class SegModelConfig(Section):
    # conv (the discriminator's blocks), resnet18 | resnet34 | resnet50 (torchvision), or any timm model name that supports
    # features_only (the pretrained extra), e.g. efficientnet_lite0, mobilenetv3_large_100, convnext_nano, resnet18.a1_in1k
    encoder: str = "conv"
    # none (random); imagenet: resnet = torchvision's file in the torch hub cache, efficientnet_lite0 = the pretrained extra's
    # offline file, other timm names = timm's weights (Hugging Face cache or download); or a state-dict file of the network
    encoder_weights: str = "none"
    # encoder BatchNorm: train (statistics and affine learn), frozen (ImageNet statistics and affine kept: small batches give
    # noisy statistics), auto = frozen with pretrained weights (imagenet or a file), train otherwise
    encoder_bn: Literal[SEG_ENCODER_BN] = "auto"  # type: ignore[valid-type]
    ngf: int = 32  # decoder width (as the generator's ngf: needed for weight transfer)
    ndf: int = 32  # conv encoder width (as the discriminator's ndf)
    max_channels: int = 256  # cap on any decoder stage's width
    upsample: Literal[UPSAMPLE_MODES] = "transposed"  # type: ignore[valid-type]  # decoder upsampling: transposed conv, resize + conv, or pixel shuffle
    norm: Literal[G_NORMS] = "batch"  # type: ignore[valid-type]  # decoder normalisation
    fusion: Literal[FUSION_MODES] = "add"  # type: ignore[valid-type]  # how an encoder stage's features join the decoder stage of the same resolution

    def checks(self) -> list[Check]:
        problem = timm_problem(self.encoder)
        return [(k, 1 <= getattr(self, k) <= MAX_CHANNELS, f"1..{MAX_CHANNELS}") for k in ("ngf", "ndf", "max_channels")] + [
            ("encoder", problem is None, problem),
            ("encoder_weights", self.encoder != "conv" or self.encoder_weights in NO_WEIGHTS, "none for model.encoder=conv (transfer.encoder loads a discriminator)"),
        ]


@dataclasses.dataclass
class SegLossConfig(Section):
    dice_weight: float = 0.0  # total = cross-entropy + dice_weight * soft Dice
    class_weights: Literal[SEG_CLASS_WEIGHTS] = "none"  # type: ignore[valid-type]  # none, or median-frequency weights from loss.class_weight_images training images
    class_weight_images: int = 500  # training images scanned for median-frequency weights

    def checks(self) -> list[Check]:
        return [("dice_weight", self.dice_weight >= 0, ">= 0"), ("class_weight_images", self.class_weight_images >= 1, ">= 1")]


@dataclasses.dataclass
class SegOptimConfig(Section):
    lr: float = 1e-3  # AdamW learning rate
    beta1: float = 0.9  # AdamW beta1
    beta2: float = 0.999  # AdamW beta2
    weight_decay: float = 1e-4  # AdamW weight decay
    schedule: Literal[LR_SCHEDULES] = "cosine"  # type: ignore[valid-type]  # learning-rate schedule over train.steps
    encoder_lr_mult: float = 1.0  # the encoder backbone's learning rate is optim.lr times this (e.g. 0.1 for a pretrained encoder)

    def checks(self) -> list[Check]:
        return adam_checks(self, "lr") + [("encoder_lr_mult", math.isfinite(self.encoder_lr_mult) and self.encoder_lr_mult >= 0, ">= 0")]


@dataclasses.dataclass
class SegEvalConfig(Section):
    every: int = 100  # steps between evaluations on the validation set (and at the end)
    batch_size: int = 16  # images per evaluation batch
    overlay_images: int = 4  # validation images shown in each overlay PNG, evenly spaced over the set
    native_size: bool = False  # score logits upsampled (bilinear) to each original mask size (needs data.size)

    def checks(self) -> list[Check]:
        return [("every", self.every >= 1, ">= 1"), ("batch_size", self.batch_size >= 1, ">= 1"), ("overlay_images", self.overlay_images >= 0, ">= 0")]


@dataclasses.dataclass
class TransferConfig(Section):
    encoder: bool = False  # also load the discriminator's blocks into the conv encoder
    freeze_decoder_steps: int = 0  # transferred decoder stages stay frozen for this many steps
    freeze_encoder_steps: int = 0  # the encoder backbone (weights and BatchNorm statistics) stays frozen for this many steps

    def checks(self) -> list[Check]:
        return [(k, getattr(self, k) >= 0, ">= 0") for k in ("freeze_decoder_steps", "freeze_encoder_steps")]


@dataclasses.dataclass
class SegConfig(RunConfig):
    out_dir: str = resumable("runs/seg")
    init_from: str = ""  # GAN export / checkpoint / run folder whose decoder initialises ours
    data: SegDataConfig = dataclasses.field(default_factory=SegDataConfig)
    model: SegModelConfig = dataclasses.field(default_factory=SegModelConfig)
    loss: SegLossConfig = dataclasses.field(default_factory=SegLossConfig)
    optim: SegOptimConfig = resumable(default_factory=SegOptimConfig)
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(steps=500, batch_size=16))
    log: LogConfig = resumable(default_factory=LogConfig)
    checkpoint: CheckpointConfig = resumable(default_factory=lambda: CheckpointConfig(every=500))
    eval: SegEvalConfig = resumable(default_factory=SegEvalConfig)
    transfer: TransferConfig = dataclasses.field(default_factory=TransferConfig)

    def checks(self) -> list[Check]:
        return super().checks() + [
            ("eval.native_size", not self.eval.native_size or bool(self.data.size), "false without data.size (native scoring resizes whole frames to [H, W])"),
        ]


def load_seg_config(path: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> SegConfig:
    """Load a :class:`SegConfig` from YAML + dotted overrides, with all range checks."""
    return load_config(SegConfig, path, overrides)
