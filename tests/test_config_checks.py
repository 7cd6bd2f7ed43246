"""Range checks run at config load (so --dry-run catches them), each job's schema holds only its keys,
and the settings a resume may change are declared on their fields."""
from __future__ import annotations

import pytest
import yaml

import train_gan
import train_seg
from gan.config import is_resumable, load_config
from gan.errors import ConfigError
from gan.generation.config import GANConfig
from gan.seg.config import SegConfig


@pytest.mark.parametrize("override, message", [
    ("eval.num_samples=1", "config key 'eval.num_samples': got 1, expected >= 2"),
    ("eval.kid_subset_size=1", "config key 'eval.kid_subset_size': got 1, expected >= 2"),
    ("eval.num_real=1", "config key 'eval.num_real': got 1, expected 0 (all) or >= 2"),
    ("eval.metrics=fid,lpips", "config key 'eval.metrics': got 'lpips', expected some of fid, kid, is, prc, class_accuracy, isc, inception_score, pr, precision_recall"),
    ("optim.g_lr=-1", "config key 'optim.g_lr': got -1.0, expected > 0"),
    ("optim.d_lr=nan", "config key 'optim.d_lr': got 'nan', expected a finite number"),
    ("optim.beta1=5", "config key 'optim.beta1': got 5.0, expected in [0, 1)"),
    ("model.ngf=100000", "config key 'model.ngf': got 100000, expected 1..2048"),
    ("model.nz=500000", "config key 'model.nz': got 500000, expected 1..4096"),
    ("out_dir=", "config key 'out_dir': got '', expected a folder name (it must not be empty)"),
    ("train.ema_start=-1", "config key 'train.ema_start': got -1, expected >= 0"),
])
def test_dry_run_stops_on_a_range_error_with_one_line(override, message, capsys):
    assert train_gan.main(["--dry-run", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {message}"]


def test_dry_run_prints_a_config_that_passes(capsys):
    assert train_gan.main(["--dry-run", "eval.num_samples=2", "optim.g_lr=1e-3"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["eval"]["num_samples"] == 2 and printed["optim"]["g_lr"] == 1e-3


def test_config_file_that_is_a_folder_or_not_utf8_is_one_line(tmp_path, capsys):
    assert train_gan.main(["--config", str(tmp_path), "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == f"error: config file '{tmp_path}' is a folder; expected a YAML file (see configs/)"
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("out_dir: caf\xe9\n".encode("latin-1"))
    assert train_gan.main(["--config", str(bad), "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == f"error: config file '{bad}' is not UTF-8 text (byte 12); expected a YAML file"


def test_segmentation_config_holds_only_keys_segmentation_uses(capsys):
    assert train_seg.main(["--dry-run"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert set(printed["train"]) == {"steps", "batch_size", "grad_accum", "mixed_precision", "seed", "on_nonfinite", "cpu_threads", "collective_timeout_s"}
    assert set(printed["log"]) == {"tracker", "project", "every", "run_name", "tags", "entity"}
    with pytest.raises(ConfigError, match=r"unknown config key 'train.d_steps'"):
        load_config(SegConfig, None, ["train.d_steps=2"])
    with pytest.raises(ConfigError, match=r"unknown config key 'log.sample_every'"):
        load_config(SegConfig, None, ["log.sample_every=2"])


@pytest.mark.parametrize("schema, key, expected", [
    (GANConfig, "out_dir", True), (GANConfig, "resume", True), (GANConfig, "optim.g_lr", True),
    (GANConfig, "log.sample_every", True), (GANConfig, "eval.num_samples", True), (GANConfig, "checkpoint.keep", True),
    (GANConfig, "train.steps", True), (GANConfig, "train.on_nonfinite", True), (GANConfig, "data.num_workers", True),
    (GANConfig, "data.download", True),
    (GANConfig, "train.seed", False), (GANConfig, "train.batch_size", False), (GANConfig, "model.ngf", False),
    (GANConfig, "data.root", False), (GANConfig, "data.name", False), (GANConfig, "loss.type", False),
    (SegConfig, "optim.lr", True), (SegConfig, "eval.every", True), (SegConfig, "init_from", False),
    (SegConfig, "transfer.encoder", False),
    (SegConfig, "train.d_steps", True),  # not in the schema any more (older checkpoints): it means nothing now
])
def test_resumable_settings_are_declared_on_their_fields(schema, key, expected):
    assert is_resumable(schema, key) is expected
