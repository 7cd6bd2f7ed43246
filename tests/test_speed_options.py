"""Speed options of the GAN step: channels_last gives the same model, torch.compile trains the same model
and never reaches checkpoints or exports, a resume may switch compile on or off, and a finished script
skips the interpreter's final garbage collection."""
from __future__ import annotations

import gc
import json
import time

import pytest
import torch
from safetensors.torch import load_file

from gan.cli import exit_process
from gan.config import load_config
from gan.errors import ConfigError
from gan.generation.config import GANConfig
from gan.generation.sampling import load_generator
from gan.generation.task import use_channels_last
from gan.models import Discriminator, Generator
from test_rel_utils import metrics, train

TINY_16 = ["train.steps=2", "checkpoint.every=1"]


def test_channels_last_models_compute_the_same_outputs():
    torch.manual_seed(0)
    g, d = Generator(nz=8, resolution=16, ngf=8), Discriminator(resolution=16, ndf=8)
    g_cl = Generator(nz=8, resolution=16, ngf=8).to(memory_format=torch.channels_last)
    d_cl = Discriminator(resolution=16, ndf=8).to(memory_format=torch.channels_last)
    g_cl.load_state_dict(g.state_dict()), d_cl.load_state_dict(d.state_dict())
    z = torch.randn(4, 8)
    images = g(z)
    assert torch.allclose(g_cl(z), images, atol=1e-5)
    assert torch.allclose(d_cl(images.contiguous(memory_format=torch.channels_last)), d(images), atol=1e-5)


def test_channels_last_training_matches_the_default_layout(tmp_path):
    fp32 = "train.mixed_precision=no"  # layouts compared, not bf16 rounding (which differs between kernels)
    assert train(tmp_path / "nchw", *TINY_16, "train.channels_last=false", fp32) == 0  # (auto would be NHWC here)
    assert train(tmp_path / "nhwc", *TINY_16, "train.channels_last=true", fp32) == 0
    a, b = metrics(tmp_path / "nchw"), metrics(tmp_path / "nhwc")
    for key in ("d_loss", "g_loss"):
        assert [m[key] for m in a] == pytest.approx([m[key] for m in b], rel=1e-4)


def test_channels_last_auto_means_nhwc_on_a_cpu_only():
    assert use_channels_last("auto", "cpu")  # measured faster in float32 and bf16
    assert not use_channels_last("auto", "cuda")  # not measured
    assert use_channels_last("true", "cuda") and not use_channels_last("false", "cpu")  # as set
    # YAML booleans (a config file's `channels_last: false`, `train.channels_last=true`) name the same settings.
    assert load_config(GANConfig, None, ["train.channels_last=true"]).train.channels_last == "true"
    assert load_config(GANConfig, None, ["train.channels_last=no"]).train.channels_last == "false"
    with pytest.raises(ConfigError, match=r"^config key 'train.channels_last': got 'nhwc', expected one of 'auto', 'true', 'false'$"):
        load_config(GANConfig, None, ["train.channels_last=nhwc"])


def test_compile_is_refused_with_double_backward_penalties():
    for extra in ("loss.type=wgan_gp", "loss.r1_gamma=1", "loss.r2_gamma=1"):
        with pytest.raises(ConfigError, match=r"config key 'train.compile': got True, expected false with loss.type=wgan_gp, loss.r1_gamma > 0 or loss.r2_gamma > 0"):
            load_config(GANConfig, None, ["train.compile=true", extra])


def test_compiled_training_matches_eager_and_keeps_checkpoints_uncompiled(tmp_path):
    start = time.perf_counter()
    assert train(tmp_path / "compiled", *TINY_16, "train.compile=true") == 0
    print(f"compiled tiny run: {time.perf_counter() - start:.1f} s")
    assert train(tmp_path / "eager", *TINY_16) == 0
    a, b = metrics(tmp_path / "compiled"), metrics(tmp_path / "eager")
    for key in ("d_loss", "g_loss"):
        assert [m[key] for m in a] == pytest.approx([m[key] for m in b], rel=1e-3)
    ckpt = tmp_path / "compiled" / "checkpoints" / "checkpoint-2"
    for weights in ckpt.glob("model*.safetensors"):
        assert not [k for k in load_file(str(weights)) if "_orig_mod" in k], weights
    model, meta = load_generator(tmp_path / "compiled")  # the export is a plain Generator's
    assert meta["step"] == 2 and isinstance(model, Generator)
    # A resume may switch compile off (and the run goes on from the compiled run's state).
    assert train(tmp_path / "compiled", "train.steps=3", "checkpoint.every=1", "resume=latest") == 0
    state = json.loads((tmp_path / "compiled" / "checkpoints" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["step"] == 3


def test_exit_process_keeps_the_exit_code_and_hides_every_object_from_the_final_collection():
    tracked, frozen_before = len(gc.get_objects()), gc.get_freeze_count()
    try:
        with pytest.raises(SystemExit) as info:
            exit_process(3)
        assert info.value.code == 3
        assert gc.get_freeze_count() - frozen_before >= 0.9 * tracked  # (nearly) every tracked object is now frozen
    finally:
        gc.unfreeze()  # this test process goes on collecting as usual
