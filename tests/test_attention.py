"""SAGAN self-attention in G and D: the block by hand, zero-init identity, placement, keys when off, config errors."""
from __future__ import annotations

import pytest
import torch

from gan.config import load_config
from gan.errors import ConfigError
from gan.generation.config import GANConfig, attention_resolutions
from gan.models import Discriminator, Generator
from gan.models.conditioning import SelfAttention2d


def test_self_attention_by_hand():
    torch.manual_seed(0)
    block = SelfAttention2d(16)
    assert block.query.out_channels == block.key.out_channels == 2 and block.value.out_channels == 16  # C/8, C
    assert float(block.gamma.detach()) == 0.0
    with torch.no_grad():
        block.gamma.fill_(0.7)
    x = torch.randn(2, 16, 3, 5)
    flat = x.flatten(2)  # (N, C, P), P = 15 positions

    def conv(layer, v):
        return torch.einsum("oc,ncp->nop", layer.weight[:, :, 0, 0], v) + layer.bias[None, :, None]

    q, k, v = conv(block.query, flat), conv(block.key, flat), conv(block.value, flat)
    expected = torch.empty_like(flat)
    for n in range(2):
        for i in range(15):  # position i attends over every position j
            scores = torch.stack([(q[n, :, i] * k[n, :, j]).sum() for j in range(15)])
            weights = torch.softmax(scores, dim=0)
            expected[n, :, i] = flat[n, :, i] + 0.7 * (v[n] * weights[None, :]).sum(dim=1)
    assert torch.allclose(block(x).detach(), expected.view_as(x), atol=1e-5)


def copy_shared(src: torch.nn.Module, dst: torch.nn.Module) -> list[str]:
    """Load ``src``'s weights into ``dst``; returns the keys ``dst`` has beyond them."""
    result = dst.load_state_dict(src.state_dict(), strict=False)
    assert result.unexpected_keys == []
    return result.missing_keys


@pytest.mark.parametrize("train", [False, True])
def test_generator_with_zero_gamma_attention_equals_the_plain_generator(train):
    torch.manual_seed(0)
    plain = Generator(nz=4, channels=3, resolution=32, ngf=4)
    with_attn = Generator(nz=4, channels=3, resolution=32, ngf=4, attention=[8, 16])
    added = copy_shared(plain, with_attn)
    assert added and all(k.startswith(("decoder.stages.0.extra.", "decoder.stages.1.extra.")) for k in added)
    assert isinstance(with_attn.decoder.stages[1].extra, SelfAttention2d)
    plain.train(train), with_attn.train(train)
    z = torch.randn(3, 4)
    assert torch.allclose(plain(z), with_attn(z), atol=1e-6)


@pytest.mark.parametrize("norm", ["batch", "spectral"])
def test_discriminator_with_zero_gamma_attention_equals_the_plain_discriminator(norm):
    torch.manual_seed(0)
    plain = Discriminator(3, 32, 4, norm=norm).eval()
    with_attn = Discriminator(3, 32, 4, norm=norm, attention=[4, 16]).eval()
    added = copy_shared(plain, with_attn)
    assert {k.split(".extra.")[0] for k in added} == {"blocks.0", "blocks.2"}  # outputs 16x16 and 4x4
    assert ("blocks.0.extra.query.weight_orig" in added) == (norm == "spectral")  # spectral D: spectral attention convs
    x = torch.randn(3, 3, 32, 32)
    assert torch.allclose(plain(x), with_attn(x), atol=1e-6)


def test_attention_gamma_learns():
    g = Generator(nz=4, channels=3, resolution=16, ngf=4, attention=[8])
    g(torch.randn(4, 4)).square().mean().backward()
    assert float(g.decoder.stages[0].extra.gamma.grad.abs()) > 0


def test_keys_unchanged_without_attention():
    for build in (lambda a: Generator(nz=4, resolution=32, ngf=4, attention=a), lambda a: Discriminator(3, 32, 4, attention=a)):
        keys = set(build(()).state_dict())
        assert keys == set(build([]).state_dict()) and not any(".extra." in k for k in keys)


@pytest.mark.parametrize("resolution", [16, 28, 32, 64])
def test_config_resolutions_are_the_model_stages(resolution):
    valid = attention_resolutions(resolution)
    g = Generator(nz=4, resolution=resolution, ngf=4)
    assert valid == g.decoder.stage_resolutions
    Generator(nz=4, resolution=resolution, ngf=4, attention=valid)  # every one also fits D
    Discriminator(3, resolution, 4, attention=valid)


def test_bad_attention_resolution_is_one_line():
    with pytest.raises(ConfigError, match=r"^config key 'model.attention': got 32, expected resolutions of the model's stages at data.resolution=32: 8, 16$"):
        load_config(GANConfig, None, ["data.resolution=32", "model.attention=[16, 32]"])
    with pytest.raises(ConfigError, match=r"at data.resolution=8: none$"):
        load_config(GANConfig, None, ["data.resolution=8", "model.attention=[4]"])
    with pytest.raises(ConfigError, match=r"^config key 'model.attention': got 'x', expected int$"):
        load_config(GANConfig, None, ["model.attention=[x]"])
    assert load_config(GANConfig, None, ["data.resolution=64", "model.attention=[16, 32]"]).model.attention == [16, 32]
    with pytest.raises(ValueError, match=r"^Generator has no stage with output resolution 32 for attention; valid: 8, 16$"):
        Generator(nz=4, resolution=32, ngf=4, attention=[32])
    with pytest.raises(ValueError, match=r"^Discriminator has no stage with output resolution 32 for attention; valid: 4, 8, 16$"):
        Discriminator(3, 32, 4, attention=[32])
