"""Shapes and wiring of the deconvolution decoder, generator and discriminator."""
from __future__ import annotations

import pytest
import torch

from gan.models import FUSION_MODES, DeconvDecoder, Discriminator, Generator


@pytest.mark.parametrize("resolution", [8, 16, 28, 32, 64, 100])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("upsample", ["transposed", "resize_conv", "pixel_shuffle"])
def test_generator_and_discriminator_shapes_and_backward(resolution, channels, upsample):
    g = Generator(nz=8, channels=channels, resolution=resolution, ngf=4, max_channels=32, upsample=upsample)
    d = Discriminator(channels=channels, resolution=resolution, ndf=4, max_channels=32, norm="spectral" if upsample == "pixel_shuffle" else "batch")
    x = g(torch.randn(3, 8))
    assert x.shape == (3, channels, resolution, resolution)
    assert x.min() >= -1 and x.max() <= 1  # tanh head
    logits = d(x)
    assert logits.shape == (3,)
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in g.parameters())


def test_dcgan64_matches_the_reference_layout():
    g, d = Generator(100, 3, 64, 64), Discriminator(3, 64, 64)
    assert g.decoder.stage_channels == [256, 128, 64]
    assert g.decoder.stage_resolutions == [8, 16, 32]
    assert d.stage_channels == [64, 128, 256, 512]
    # pytorch/examples DCGAN generator: 100*512*16 + 512*256*16 + 256*128*16 + 128*64*16 + 64*3*16 conv
    # weights plus 2*(512+256+128+64) BatchNorm parameters.
    expected = 16 * (100 * 512 + 512 * 256 + 256 * 128 + 128 * 64 + 64 * 3) + 2 * (512 + 256 + 128 + 64)
    assert sum(p.numel() for p in g.parameters()) == expected


def test_decoder_widths_resolutions_and_cap():
    dec = DeconvDecoder(in_channels=128, out_resolution=128, width=16, max_channels=64)
    assert dec.stage_channels == [64, 64, 32, 16]  # 16*2^4 = 256 capped at 64 for the widest stage
    assert dec.stage_resolutions == [8, 16, 32, 64]
    assert dec.out_channels == 16
    y = dec(torch.randn(2, 128, 4, 4))
    assert y.shape == (2, 16, 64, 64)


def test_decoder_rejects_wrong_input_with_a_clear_message():
    dec = DeconvDecoder(in_channels=32, out_resolution=32, width=8)
    with pytest.raises(ValueError, match=r"expects input \(N, 32, h, w\) \(4 x 4 in a generator\), got \(2, 16, 4, 4\)"):
        dec(torch.randn(2, 16, 4, 4))
    with pytest.raises(ValueError, match="smallest supported is 8"):
        DeconvDecoder(in_channels=32, out_resolution=4)


@pytest.mark.parametrize("fusion", [m for m in FUSION_MODES if m != "none"])
def test_decoder_fuses_skips_in_every_mode(fusion):
    dec = DeconvDecoder(in_channels=32, out_resolution=64, width=8, skip_channels=[5, None, 7], fusion=fusion)
    skips = [torch.randn(2, 5, 8, 8), None, torch.randn(2, 7, 32, 32)]
    x = torch.randn(2, 32, 4, 4)
    out = dec(x, skips)
    assert out.shape == (2, 8, 32, 32)
    assert sorted(dec.fusions) == ["0", "2"]
    assert not torch.allclose(out, dec(x))  # the skips change the output
    out.sum().backward()
    assert dec.fusions["0"].project.weight.grad is not None


def test_discriminator_features_and_input_check():
    d = Discriminator(channels=1, resolution=28, ndf=4)
    feats = d.features(torch.randn(2, 1, 28, 28))
    assert [f.shape[-1] for f in feats] == [16, 8, 4]  # 28 is processed at 32
    with pytest.raises(ValueError, match=r"expects images \(N, 1, 28, 28\), got \(2, 3, 28, 28\)"):
        d(torch.randn(2, 3, 28, 28))


def test_generator_rejects_wrong_latent_size():
    with pytest.raises(ValueError, match=r"latents of shape \(N, 8\)"):
        Generator(nz=8, resolution=16, ngf=4)(torch.randn(2, 9))
