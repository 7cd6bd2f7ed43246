"""Config schema of GAN training (the shared sections come from :mod:`gan.config`)."""
from __future__ import annotations

import dataclasses
import math
from typing import Literal

from ..config import (
    Check, CheckpointConfig, DataConfig, EvalConfig, IntOrAuto, LogConfig, RunConfig, Section, TrainConfig,
    adam_checks, finite_positive, load_config, positive, resumable,
)
from ..names import (
    CHANNELS_LAST, D_CONDITIONINGS, D_NORMS, G_CONDITIONINGS, G_NORMS, GAN_AUGMENTATIONS, GAN_LOSSES, MAX_CHANNELS,
    MAX_CLASSES, MAX_LATENT, UPSAMPLE_MODES,
)


@dataclasses.dataclass
class ModelConfig(Section):
    nz: int = 100  # latent size
    ngf: int = 64  # generator width of the last decoder stage (doubles towards the latent)
    ndf: int = 64  # discriminator width of the first block (doubles with depth)
    max_channels: int = 512  # cap on any stage's width
    upsample: Literal[UPSAMPLE_MODES] = "transposed"  # type: ignore[valid-type]  # decoder upsampling: transposed conv (DCGAN), resize + conv, or pixel shuffle
    g_norm: Literal[G_NORMS] = "batch"  # type: ignore[valid-type]  # generator normalisation
    d_norm: Literal[D_NORMS] = "batch"  # type: ignore[valid-type]  # discriminator normalisation (spectral = spectral norm on every layer)
    # Class-conditional models: a class count, or "auto" = the dataset's (resolved at start); 0 = unconditional.
    num_classes: IntOrAuto = 0
    g_cond: Literal[G_CONDITIONINGS] = "embed"  # type: ignore[valid-type]  # ignored when num_classes is 0
    d_cond: Literal[D_CONDITIONINGS] = "projection"  # type: ignore[valid-type]  # ignored when num_classes is 0
    attention: list[int] = dataclasses.field(default_factory=list)  # self-attention after the G/D stages of these resolutions

    def checks(self) -> list[Check]:
        widths = [(k, 1 <= getattr(self, k) <= MAX_CHANNELS, f"1..{MAX_CHANNELS}") for k in ("ngf", "ndf", "max_channels")]
        classes = str(self.num_classes).strip()
        return [("nz", 1 <= self.nz <= MAX_LATENT, f"1..{MAX_LATENT}")] + widths + [
            ("num_classes", classes == "auto" or (classes.isdigit() and int(classes) <= MAX_CLASSES), f"'auto' or an integer in 0..{MAX_CLASSES}"),
            ("g_cond", not (classes != "0" and self.g_cond == "cbn" and self.g_norm != "batch"),
             "'embed' with model.g_norm=none (cbn is a conditional BatchNorm: it needs model.g_norm=batch)"),
        ]


def attention_resolutions(resolution: int) -> list[int]:
    """Resolutions where ``model.attention`` may go: the generator's decoder stage outputs (8 .. work size / 2).

    The discriminator has a block with each of these output sizes too. Torch-free mirror of
    ``Generator(...).decoder.stage_resolutions`` (tests check both agree).
    """
    if resolution < 8:  # reported by data.resolution's own check
        return []
    doublings = math.ceil(math.log2(resolution / 4))
    return [4 * 2 ** (i + 1) for i in range(doublings - 1)]


@dataclasses.dataclass
class LossConfig(Section):
    type: Literal[GAN_LOSSES] = "nonsaturating"  # type: ignore[valid-type]  # adversarial loss (gan.generation.losses.LOSSES)
    gp_weight: float = 10.0  # used by wgan_gp
    r1_gamma: float = 0.0  # R1 penalty on real images: gamma/2 times the mean squared norm of D's input gradient there; 0 disables it
    # R2: the same penalty on generated images; 0 disables it. R3GAN's objective: type=rpgan with r1_gamma = r2_gamma > 0.
    r2_gamma: float = 0.0
    # Lazy regularisation (StyleGAN2): the gradient penalties (r1, r2, wgan_gp's) on every k-th D update only, weighted by k.
    reg_every: int = 1

    def checks(self) -> list[Check]:
        return [("gp_weight", self.gp_weight >= 0, ">= 0"), ("r1_gamma", self.r1_gamma >= 0, ">= 0"), ("r2_gamma", self.r2_gamma >= 0, ">= 0")] + \
            positive(self, "reg_every")


@dataclasses.dataclass
class OptimConfig(Section):
    g_lr: float = 2e-4  # generator Adam learning rate
    d_lr: float = 2e-4  # discriminator Adam learning rate
    beta1: float = 0.5  # Adam beta1 (0.5 as DCGAN)
    beta2: float = 0.999  # Adam beta2
    weight_decay: float = 0.0  # AdamW weight decay (0 = plain Adam)

    def checks(self) -> list[Check]:
        return adam_checks(self, "g_lr", "d_lr")


@dataclasses.dataclass
class GANTrainConfig(TrainConfig):
    d_steps: int = 1  # discriminator updates per generator update
    ema_decay: float = 0.999  # EMA of the generator's weights; the EMA model is sampled, evaluated and exported
    ema_start: int = 0  # EMA copies the weights until this step, then averages
    compile: bool = resumable(False)  # torch.compile G and D for the step (EMA, checkpoints, exports stay uncompiled)
    channels_last: Literal[CHANNELS_LAST] = resumable("auto")  # type: ignore[valid-type]  # NHWC memory format for G and D; auto: on a CPU

    def checks(self) -> list[Check]:
        return super().checks() + positive(self, "d_steps") + [
            ("ema_decay", 0.0 <= self.ema_decay < 1.0, "in [0, 1)"),
            ("ema_start", self.ema_start >= 0, ">= 0"),
        ]


@dataclasses.dataclass
class GANLogConfig(LogConfig):
    sample_every: int = 500  # steps between fixed-noise sample grids (and loss plots)
    num_samples: int = 64  # images in the fixed-noise sample grid

    def checks(self) -> list[Check]:
        return super().checks() + positive(self, "sample_every", "num_samples")


@dataclasses.dataclass
class AugmentConfig(Section):
    """DiffAugment of every image D sees (gan.generation.augment); adaptive ``p`` (as StyleGAN2-ADA) when ``target`` > 0."""

    policy: str = ""  # comma-separated names of gan.names.GAN_AUGMENTATIONS; "" = no augmentation
    p: float = resumable(1.0)  # probability that a sample is augmented; with target > 0, the starting value
    target: float = resumable(0.0)  # 0 = fixed p; else the wanted E[sign(D(real))]: p moves towards it
    interval: int = resumable(4)  # steps between updates of the adaptive p
    speed_kimg: float = resumable(100.0)  # thousands of real images for the adaptive p to move by 1

    def names(self) -> list[str]:
        """The policy's op names (blanks dropped)."""
        return [n.strip() for n in self.policy.split(",") if n.strip()]

    def checks(self) -> list[Check]:
        unknown = [n for n in self.names() if n not in GAN_AUGMENTATIONS]
        return positive(self, "interval") + [
            ("policy", not unknown, "comma-separated names among " + ", ".join(GAN_AUGMENTATIONS), unknown[0] if unknown else None),
            ("p", 0.0 <= self.p <= 1.0, "in [0, 1]"),
            ("target", 0.0 <= self.target < 1.0, "in [0, 1)"),
            ("speed_kimg", finite_positive(self.speed_kimg), "> 0"),
        ]


@dataclasses.dataclass
class GANConfig(RunConfig):
    """The GAN job's config: run keys and every section."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    optim: OptimConfig = resumable(default_factory=OptimConfig)
    train: GANTrainConfig = dataclasses.field(default_factory=GANTrainConfig)
    log: GANLogConfig = resumable(default_factory=GANLogConfig)
    checkpoint: CheckpointConfig = resumable(default_factory=CheckpointConfig)
    eval: EvalConfig = resumable(default_factory=EvalConfig)
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)

    def checks(self) -> list[Check]:
        double_backward = self.loss.type == "wgan_gp" or self.loss.r1_gamma > 0 or self.loss.r2_gamma > 0
        valid = attention_resolutions(self.data.resolution)
        bad_attention = [r for r in self.model.attention if r not in valid]
        return super().checks() + [
            ("model.attention", not bad_attention,
             f"resolutions of the model's stages at data.resolution={self.data.resolution}: {', '.join(map(str, valid)) or 'none'}",
             bad_attention[0] if bad_attention else None),
            ("train.compile", not (self.train.compile and double_backward),
             "false with loss.type=wgan_gp, loss.r1_gamma > 0 or loss.r2_gamma > 0 (their gradient penalties need double backward, which torch.compile does not support)"),
        ]


def load_gan_config(path: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> GANConfig:
    """Load a :class:`GANConfig` from YAML + dotted overrides, with all range checks."""
    return load_config(GANConfig, path, overrides)
