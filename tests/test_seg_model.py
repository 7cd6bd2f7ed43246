"""SegmentationModel: every fusion mode, odd input sizes (forward and backward), whole frames, ResNet option."""
from __future__ import annotations

import pytest
import torch

from gan.models import FUSION_MODES
from gan.seg.model import SegmentationModel, tiled

TINY = dict(ngf=4, ndf=4, max_channels=16)


@pytest.mark.parametrize("fusion", FUSION_MODES)
def test_every_fusion_mode_keeps_the_input_size_and_backpropagates(fusion: str) -> None:
    torch.manual_seed(0)
    model = SegmentationModel(num_classes=5, channels=3, resolution=16, fusion=fusion, **TINY)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 5, 16, 16)
    assert model(torch.randn(1, 3, 9, 40)).shape == (1, 5, 9, 40)
    x = torch.randn(2, 3, 17, 23, requires_grad=True)  # not a multiple of the 16 px stride
    logits = model(x)
    assert logits.shape == (2, 5, 17, 23)
    logits.square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    fused = [name for name, p in model.named_parameters() if "fusions" in name or "fuse" in name]
    assert bool(fused) == (fusion != "none")
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"


def test_skips_reach_every_decoder_stage_at_its_resolution() -> None:
    model = SegmentationModel(num_classes=2, channels=1, resolution=64, fusion="concat", **TINY)
    # 64 px: encoder features at 32, 16, 8, 4; decoder stages output 8, 16, 32 -> three fusions.
    assert model.decoder.stage_resolutions == [8, 16, 32]
    assert sorted(model.decoder.fusions.keys()) == ["0", "1", "2"]
    enc = model.encoder.stage_channels
    assert [model.decoder.fusions[str(i)].project.in_channels for i in range(3)] == [enc[2], enc[1], enc[0]]


def test_weighted_fusion_weights_are_normalised() -> None:
    model = SegmentationModel(num_classes=2, channels=1, resolution=16, fusion="weighted", **TINY)
    fusion = model.decoder.fusions["0"]
    with torch.no_grad():
        fusion.logits.copy_(torch.tensor([2.0, -1.0]))
    x, skip = torch.ones(1, fusion.project.out_channels, 8, 8), torch.zeros(1, fusion.project.in_channels, 8, 8)
    with torch.no_grad():
        fusion.project.weight.zero_()
        fusion.project.bias.fill_(1.0)  # projected skip == 1 everywhere, like x
    out = fusion(x, skip)
    assert torch.allclose(out, torch.ones_like(out))  # weights sum to 1
    assert torch.allclose(torch.softmax(fusion.logits, 0).sum(), torch.tensor(1.0))


def test_tiling_stitches_tiles_in_place_and_crops() -> None:
    def fn(t: torch.Tensor) -> torch.Tensor:  # per-tile: the tile's own mean everywhere
        return t.mean(dim=(1, 2, 3), keepdim=True).expand(-1, 1, t.shape[2], t.shape[3]) * 1.0

    x = torch.zeros(1, 1, 6, 7)
    x[..., :4, :4] = 1.0
    x[..., :4, 4:] = 2.0
    x[..., 4:, :4] = 3.0
    x[..., 4:, 4:] = 4.0
    out = tiled(fn, x, 4)
    assert out.shape == (1, 1, 6, 7)
    assert float(out[0, 0, 0, 0]) == 1.0 and float(out[0, 0, 0, 6]) == 2.0
    # bottom tiles are padded by replication: their mean is still the tile's value
    assert float(out[0, 0, 5, 0]) == 3.0 and float(out[0, 0, 5, 6]) == 4.0


def test_large_input_runs_as_one_frame_not_as_tiles() -> None:
    # Whole frames are segmented with context across them (fully convolutional, not 16 px tiles):
    # a change in the top half moves logits of the bottom half, and a stride-multiple input is not padded.
    torch.manual_seed(0)
    model = SegmentationModel(num_classes=3, channels=3, resolution=16, fusion="add", **TINY).eval()
    x = torch.randn(1, 3, 32, 16)
    with torch.no_grad():
        whole = model(x)
        x2 = x.clone()
        x2[..., 12:16, :] += 3.0
        changed = model(x2)
        assert torch.equal(whole, model._forward_tile(x))  # 32 x 16 is a multiple of the 4 px stride
    assert (changed[..., 16:20, :] - whole[..., 16:20, :]).abs().max() > 1e-4


def test_resnet_encoder_option_random_weights() -> None:
    model = SegmentationModel(num_classes=4, channels=1, resolution=32, encoder="resnet18", fusion="add", ngf=4, max_channels=64)
    assert model.encoder.stage_channels == [64, 64, 128]  # strides 2, 4, 8 for a 32 px input
    assert model(torch.randn(1, 1, 20, 30)).shape == (1, 4, 20, 30)


def test_wrong_channel_count_is_a_clear_error() -> None:
    model = SegmentationModel(num_classes=2, channels=3, resolution=16, **TINY)
    with pytest.raises(ValueError, match=r"expects images \(N, 3, H, W\)"):
        model(torch.randn(1, 1, 16, 16))
