"""Every choice list in gan/names.py has exactly one implementation, and the config types use the same lists."""
from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import pytest

from gan import names
from gan.config import DataConfig, TrainConfig, LogConfig
from gan.data.images import DATASET_BUILDERS
from gan.data.shapes import BACKGROUNDS
from gan.evaluation.metrics import METRICS
from gan.generation.augment import AUGMENT_OPS
from gan.generation.config import LossConfig, ModelConfig
from gan.generation.losses import LOSSES
from gan.models import DeconvDecoder, SkipFusion
from gan.models.blocks import UPSAMPLE_BUILDERS
from gan.models.conditioning import D_CONDITIONINGS, G_CONDITIONINGS
from gan.seg.config import SegDataConfig, SegLossConfig, SegModelConfig, SegOptimConfig
from gan.seg.data import CAMVID_SPLITS, SEG_DATASET_BUILDERS
from gan.seg.encoders import build_encoder
from gan.seg.transforms import augment_ops

ROOT = Path(__file__).resolve().parents[1]


def choices(schema: type, field: str) -> tuple:
    return typing.get_args(typing.get_type_hints(schema)[field])


@pytest.mark.parametrize("registry, listed", [
    (DATASET_BUILDERS, names.IMAGE_DATASETS),
    (SEG_DATASET_BUILDERS, names.SEG_DATASETS),
    (UPSAMPLE_BUILDERS, names.UPSAMPLE_MODES),
    (LOSSES, names.GAN_LOSSES),
    (METRICS, names.EVAL_METRICS),
    (augment_ops(32, 255), names.SEG_AUGMENTATIONS),
    (AUGMENT_OPS, names.GAN_AUGMENTATIONS),
    (G_CONDITIONINGS, names.G_CONDITIONINGS),
    (D_CONDITIONINGS, names.D_CONDITIONINGS),
    (BACKGROUNDS, names.SHAPES_BACKGROUNDS),
    ([k for k in CAMVID_SPLITS if k != "train"], names.SEG_EVAL_SPLITS),
])
def test_every_name_has_an_implementation_and_vice_versa(registry, listed):
    assert sorted(registry) == sorted(listed)


@pytest.mark.parametrize("schema, field, listed", [
    (DataConfig, "name", names.IMAGE_DATASETS),
    (DataConfig, "labels", names.FOLDER_LABELS),
    (DataConfig, "on_bad_image", names.BAD_IMAGE_POLICIES),
    (DataConfig, "shapes_background", names.SHAPES_BACKGROUNDS),
    (TrainConfig, "mixed_precision", names.MIXED_PRECISION),
    (TrainConfig, "on_nonfinite", names.ON_NONFINITE),
    (LogConfig, "tracker", names.TRACKERS),
    (ModelConfig, "upsample", names.UPSAMPLE_MODES),
    (ModelConfig, "g_norm", names.G_NORMS),
    (ModelConfig, "d_norm", names.D_NORMS),
    (ModelConfig, "g_cond", names.G_CONDITIONINGS),
    (ModelConfig, "d_cond", names.D_CONDITIONINGS),
    (LossConfig, "type", names.GAN_LOSSES),
    (SegDataConfig, "name", names.SEG_DATASETS),
    (SegDataConfig, "split_eval", names.SEG_EVAL_SPLITS),
    (SegModelConfig, "upsample", names.UPSAMPLE_MODES),
    (SegModelConfig, "fusion", names.FUSION_MODES),
    (SegModelConfig, "encoder_bn", names.SEG_ENCODER_BN),
    (SegLossConfig, "class_weights", names.SEG_CLASS_WEIGHTS),
    (SegOptimConfig, "schedule", names.LR_SCHEDULES),
])
def test_config_choices_are_the_listed_names(schema, field, listed):
    assert choices(schema, field) == listed


def test_every_fusion_mode_and_encoder_builds():
    for mode in names.FUSION_MODES:
        dec = DeconvDecoder(16, 32, 8, 32, skip_channels=[4, 4], fusion=mode)
        assert len(dec.fusions) == (0 if mode == "none" else 2)
        if mode != "none":
            assert isinstance(dec.fusions["0"], SkipFusion)
    for kind in names.SEG_ENCODERS:
        assert len(build_encoder(kind, 3, 32, 8, 32, "batch").stage_channels) == 3  # 32 -> 16, 8, 4


def test_names_and_configs_load_without_torch():
    code = "import sys, gan.names, gan.config, gan.generation.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
