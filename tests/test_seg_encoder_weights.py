"""model.encoder_weights: ImageNet weights from the torch hub cache (or a file) really land in the ResNet encoder."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO, offline_env
from gan.errors import ConfigError
from gan.seg.model import SegmentationModel

RESNET18_FILE = "resnet18-f37072fd.pth"  # torchvision's ResNet18_Weights.IMAGENET1K_V1 file name
RESNET18_URL = "https://download.pytorch.org/models/" + RESNET18_FILE


def resnet_seg(channels: int = 3, weights: str = "imagenet") -> SegmentationModel:
    # 32 px: the encoder keeps the stem (conv1, bn1), layer1 and layer2 (strides 2, 4, 8).
    return SegmentationModel(num_classes=2, channels=channels, resolution=32, encoder="resnet18", encoder_weights=weights, ngf=4, max_channels=64)


@pytest.fixture
def fake_imagenet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, torch.Tensor]:
    """A randomly initialised torchvision resnet18 saved where torchvision caches the real one."""
    from torchvision.models import resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    torch.manual_seed(123)
    state = resnet18().state_dict()
    state["bn1.running_mean"] = torch.randn(64)  # fresh statistics are 0/1: make them recognisable
    folder = tmp_path / "torch_home" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(state, folder / RESNET18_FILE)
    return state


def test_imagenet_weights_come_from_the_torch_hub_cache(fake_imagenet: dict[str, torch.Tensor]) -> None:
    torch.manual_seed(0)  # a different seed: random init cannot equal the file by chance
    enc = resnet_seg().encoder
    assert torch.equal(enc.stages[0][0].weight, fake_imagenet["conv1.weight"])
    assert torch.equal(enc.stages[0][1].running_mean, fake_imagenet["bn1.running_mean"])
    assert torch.equal(enc.stages[1][1][0].conv1.weight, fake_imagenet["layer1.0.conv1.weight"])
    assert torch.equal(enc.stages[2][1].bn2.weight, fake_imagenet["layer2.1.bn2.weight"])
    assert not torch.equal(resnet_seg(weights="").encoder.stages[0][0].weight, fake_imagenet["conv1.weight"])


def test_grey_input_sums_the_pretrained_rgb_filters(fake_imagenet: dict[str, torch.Tensor]) -> None:
    conv1 = resnet_seg(channels=1).encoder.stages[0][0]
    assert conv1.weight.shape == (64, 1, 7, 7)
    assert torch.allclose(conv1.weight, fake_imagenet["conv1.weight"].sum(1, keepdim=True))


def test_a_state_dict_file_with_another_classifier_loads(fake_imagenet: dict[str, torch.Tensor], tmp_path: Path) -> None:
    state = dict(fake_imagenet, **{"fc.weight": torch.zeros(5, 512), "fc.bias": torch.zeros(5)})  # a 5-class fine-tune
    torch.save(state, tmp_path / "mine.pth")
    enc = resnet_seg(weights=str(tmp_path / "mine.pth")).encoder
    assert torch.equal(enc.stages[1][1][1].conv2.weight, fake_imagenet["layer1.1.conv2.weight"])


def test_missing_imagenet_file_names_the_path_and_the_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    expected = tmp_path / "empty" / "hub" / "checkpoints" / RESNET18_FILE
    with pytest.raises(ConfigError) as err:
        resnet_seg()
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"model.encoder_weights=imagenet: resnet18 weights not found at '{expected}'")
    assert f"download {RESNET18_URL} and put it there" in text


def test_unusable_files_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=rf"cannot read '{tmp_path / 'broken.pth'}' as a state dict"):
        resnet_seg(weights=str(tmp_path / "broken.pth"))
    from torchvision.models import resnet50

    torch.save(resnet50().state_dict(), tmp_path / "r50.pth")
    with pytest.raises(ConfigError, match=r"r50.pth' does not fit resnet18: shape of 'layer1.0.conv1.weight' \[64, 64, 1, 1\] != \[64, 64, 3, 3\]"):
        resnet_seg(weights=str(tmp_path / "r50.pth"))
    with pytest.raises(ConfigError, match=rf"file '{tmp_path / 'nope.pth'}' does not exist"):
        resnet_seg(weights=str(tmp_path / "nope.pth"))


def test_cli_stops_with_the_one_line_error(tmp_path: Path) -> None:
    import subprocess

    env = dict(offline_env(), TORCH_HOME=str(tmp_path / "empty"))
    args = [sys.executable, "train_seg.py", "--config", "tests/defaults.yaml", f"out_dir={tmp_path / 'run'}", "data.resolution=16", "data.shapes_size=16",
            "model.encoder=resnet18", "model.encoder_weights=imagenet", "log.tracker=none"]
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: model.encoder_weights=imagenet: resnet18 weights not found at ")
    assert str(tmp_path / "empty" / "hub" / "checkpoints" / RESNET18_FILE) in lines[-1]
    assert "Traceback" not in proc.stderr
