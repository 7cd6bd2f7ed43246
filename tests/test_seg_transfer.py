"""init_from: a tiny trained GAN's decoder (and discriminator) really lands in the segmentation model."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gan.config import load_config
from gan.errors import CheckpointError
from gan.formats import load_safetensors
from gan.generation.config import GANConfig
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


def test_the_decoder_transfers_onto_a_timm_encoder(gan_run: Path) -> None:
    """The decoder stages keep the generator's widths whatever the encoder: only the skip projections adapt to it."""
    gen = load_safetensors(gan_run / "export" / "generator.safetensors")
    model = seg_model(encoder="convnext_nano")  # strides 4, 8 at 32 px: stage 0 (8x8) meets stride 4; stage 1 (stride 2) has no skip
    report = transfer_from_gan(model, gan_run)
    assert torch.equal(model.state_dict()["decoder.stages.1.conv.weight"], gen["decoder.stages.0.conv.weight"])
    assert report.lines()[0].startswith(f"init_from {gan_run / 'export'}: loaded 6 tensors")
    assert sorted(model.decoder.fusions) == ["0"] and model.decoder.fusions["0"].project.in_channels == 80  # stride 4: 80 channels
    with pytest.raises(CheckpointError, match="transfer.encoder=true needs model.encoder=conv"):
        transfer_from_gan(seg_model(encoder="efficientnet_lite0"), gan_run, encoder=True)


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


ATTENTION_REASON = "self-attention block: the segmentation decoder has none"
ATTENTION_KEYS = [f"extra.{m}.{p}" for m in ("query", "key", "value") for p in ("weight", "bias")] + ["extra.gamma"]


@pytest.fixture(scope="module")
def attention_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A 16x16 generator and discriminator with self-attention at 8x8 (in the generator's only decoder stage),
    every tensor set to random values (gamma and the BatchNorm statistics too), written as a GAN export."""
    from gan.formats import GENERATOR, write_export
    from gan.models import Discriminator, Generator

    torch.manual_seed(1)
    gen = Generator(nz=8, channels=3, resolution=GAN_RES, ngf=8, max_channels=32, attention=[8])
    disc = Discriminator(channels=3, resolution=GAN_RES, ndf=8, max_channels=32, attention=[8])
    with torch.no_grad():
        for t in [*gen.state_dict().values(), *disc.state_dict().values()]:
            t.copy_(torch.randint(1, 9, t.shape) if t.dtype == torch.long else torch.rand(t.shape) + 0.5)
    folder = tmp_path_factory.mktemp("attention") / "export"
    write_export(folder, GENERATOR, gen.state_dict(), {}, extra={"discriminator.safetensors": disc.state_dict()})
    return folder, load_safetensors(folder / "generator.safetensors"), load_safetensors(folder / "discriminator.safetensors")


def test_a_stage_with_self_attention_loads_its_conv_and_norm_and_reports_the_attention(attention_export) -> None:
    from gan.models import Generator

    folder, gen_state, _ = attention_export
    model = seg_model(resolution=GAN_RES)  # one decoder stage, the GAN's attention stage
    report = transfer_from_gan(model, folder)
    state = model.state_dict()
    names = ("conv.weight", "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var", "norm.num_batches_tracked")
    for name in names:
        assert torch.equal(state[f"decoder.stages.0.{name}"], gen_state[f"decoder.stages.0.{name}"]), name
    assert sorted(report.loaded_keys) == [f"decoder.stages.0.{name}" for name in sorted(names)]
    for name in ATTENTION_KEYS:
        assert (f"generator:decoder.stages.0.{name}", ATTENTION_REASON) in report.skipped
    # Every generator tensor is either loaded or reported.
    accounted = [theirs for _, theirs, _ in report.loaded] + [theirs for theirs, _ in report.skipped]
    assert sorted(accounted) == sorted("generator:" + k for k in gen_state)
    assert not any(k.startswith("decoder.stages.0.extra.") for k in state)
    # The stage computes the generator's stage without its residual attention term (gamma = 0).
    gen = Generator(nz=8, channels=3, resolution=GAN_RES, ngf=8, max_channels=32, attention=[8]).eval()
    gen.load_state_dict(gen_state)
    x = torch.randn(2, 16, 4, 4)
    ours, theirs = model.eval().decoder.stages[0], gen.decoder.stages[0]
    with torch.no_grad():
        assert not torch.allclose(ours(x), theirs(x))
        theirs.extra.gamma.zero_()
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)


def test_a_discriminator_block_with_self_attention_initialises_the_encoder_block(attention_export) -> None:
    folder, _, disc_state = attention_export
    report = transfer_from_gan(seg_model(resolution=GAN_RES), folder, encoder=True)
    assert ("encoder.blocks.0.conv.weight", "discriminator:blocks.0.conv.weight", (8, 3, 4, 4)) in report.loaded
    assert ("discriminator:blocks.0.extra.gamma", "self-attention block: the segmentation encoder has none") in report.skipped
    assert {ours for ours in report.loaded_keys if ours.startswith("encoder.")} == {"encoder." + k for k in disc_state if k.startswith("blocks.") and ".extra." not in k}


def test_nothing_fitting_names_the_real_reasons(attention_export) -> None:
    folder, _, _ = attention_export
    with pytest.raises(CheckpointError, match=r"no decoder weight fits the segmentation model \(no 'decoder\.stages\.0\.conv\.weight' in the segmentation model\)"):
        transfer_from_gan(seg_model(resolution=GAN_RES, upsample="resize_conv"), folder)
    with pytest.raises(CheckpointError, match=r"fits the segmentation model \(shape \[16, 8, 4, 4\] != ours \[8, 4, 4, 4\] .*\)") as err:
        transfer_from_gan(seg_model(resolution=GAN_RES, ngf=4), folder)
    assert "self-attention" not in str(err.value)  # skipped either way: not a reason why nothing fits


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
