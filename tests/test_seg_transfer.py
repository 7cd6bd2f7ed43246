"""init_from: a tiny trained GAN's decoder (and discriminator) really lands in the segmentation model."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gan.config import load_config
from gan.generation.config import GANConfig
from gan.engine.formats import CheckpointError, load_safetensors
from gan.seg.model import SegmentationModel
from gan.seg.transfer import transfer_from_gan

GAN_RES, SEG_RES = 16, 32  # GAN decoder: 1 stage (4->8); segmentation decoder: 2 stages (4->8->16)


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) GAN run: a few training steps, then its export folder."""
    from gan.generation.train import run_training

    out = tmp_path_factory.mktemp("gan")
    cfg = load_config(GANConfig, None, [
        f"out_dir={out}", "data.name=shapes", f"data.resolution={GAN_RES}", "data.shapes_size=32", "model.nz=8",
        "model.ngf=8", "model.ndf=8", "model.max_channels=32", "train.batch_size=8", "train.steps=3",
        "log.tracker=none", "log.sample_every=100", "log.num_samples=4", "checkpoint.every=3",
    ])
    assert run_training(cfg) == 0
    return out


def seg_model(**kw) -> SegmentationModel:
    args = dict(num_classes=4, channels=3, resolution=SEG_RES, ngf=8, ndf=8, max_channels=32, fusion="add")
    return SegmentationModel(**{**args, **kw})


def test_decoder_stages_are_copied_from_the_generator_aligned_at_the_output_end(gan_run: Path, capsys) -> None:
    gen = load_safetensors(gan_run / "export" / "generator.safetensors")
    torch.manual_seed(0)
    model = seg_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = transfer_from_gan(model, gan_run)  # a run folder resolves to its export
    state = model.state_dict()
    # The generator's only decoder stage (16 -> 8 channels) is our last stage (index 1).
    for name in ("conv.weight", "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var"):
        assert torch.equal(state[f"decoder.stages.1.{name}"], gen[f"decoder.stages.0.{name}"])
    assert not torch.equal(gen["decoder.stages.0.conv.weight"], before["decoder.stages.1.conv.weight"])
    # Everything else keeps its own initialisation.
    assert torch.equal(state["decoder.stages.0.conv.weight"], before["decoder.stages.0.conv.weight"])
    assert torch.equal(state["head.up.conv.weight"], before["head.up.conv.weight"])
    lines = report.lines()
    assert lines[0].startswith(f"init_from {gan_run / 'export'}: loaded 6 tensors")
    assert "  loaded  decoder.stages.1.conv.weight <- generator:decoder.stages.0.conv.weight [16, 8, 4, 4]" in lines
    assert any(line.startswith("  skipped generator:project.0.weight: not a decoder stage") for line in lines)
    assert any(line.startswith("  skipped generator:head.0.weight") for line in lines)


def test_discriminator_blocks_initialise_the_conv_encoder(gan_run: Path) -> None:
    disc = load_safetensors(gan_run / "export" / "discriminator.safetensors")
    model = seg_model()
    report = transfer_from_gan(model, gan_run / "export", encoder=True)
    state = model.state_dict()
    assert torch.equal(state["encoder.blocks.0.conv.weight"], disc["blocks.0.conv.weight"])
    assert torch.equal(state["encoder.blocks.1.norm.weight"], disc["blocks.1.norm.weight"])
    # The 32 px encoder has a third block the 16 px discriminator lacks; its logit layer is skipped.
    assert ("encoder.blocks.1.conv.weight", "discriminator:blocks.1.conv.weight", (16, 8, 4, 4)) in report.loaded
    assert any(k == "discriminator:out.weight" for k, _ in report.skipped)


def test_nothing_matching_fails_clearly(gan_run: Path) -> None:
    model = seg_model(ngf=4)  # other widths than the GAN's ngf=8
    with pytest.raises(CheckpointError, match=r"no decoder weight fits.*shape \[16, 8, 4, 4\] != ours"):
        transfer_from_gan(model, gan_run)
    with pytest.raises(CheckpointError, match="holds no generator.safetensors"):
        transfer_from_gan(seg_model(), gan_run / "samples")


def test_transferred_decoder_stays_frozen_for_the_first_steps(gan_run: Path, tmp_path: Path) -> None:
    from gan.engine.data_stream import BatchStream
    from gan.engine.setup import make_accelerator
    from gan.seg.config import load_seg_config
    from gan.seg.task import SegTask

    cfg = load_seg_config(None, [
        f"out_dir={tmp_path}", f"init_from={gan_run}", "transfer.freeze_decoder_steps=1", f"data.resolution={SEG_RES}",
        "data.shapes_size=16", "data.shapes_val_size=4", "model.ngf=8", "model.ndf=8", "model.max_channels=32",
        "train.batch_size=4", "log.tracker=none",
    ])
    task = SegTask(cfg, make_accelerator(cfg)[0])
    batches = BatchStream(task.dataloader)
    frozen = task.raw.decoder.stages[1].conv.weight.detach().clone()
    free = task.raw.decoder.stages[0].conv.weight.detach().clone()
    task.train_step(batches, step=0)
    assert torch.equal(task.raw.decoder.stages[1].conv.weight, frozen)
    assert not torch.equal(task.raw.decoder.stages[0].conv.weight, free)
    task.train_step(batches, step=1)  # past the freeze: it trains
    assert not torch.equal(task.raw.decoder.stages[1].conv.weight, frozen)
