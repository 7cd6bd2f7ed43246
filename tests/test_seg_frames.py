"""Real-scene segmentation: non-square frames through every fusion mode and encoder, whole-frame and
native-size scoring (pixel counts, a hand-computed IoU), crops and scale jitter, overlays spread over the set."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from gan.errors import ConfigError
from gan.names import FUSION_MODES, SEG_ENCODERS
from gan.seg.config import SegDataConfig, load_seg_config
from gan.seg.data import SegFiles, build_seg_data
from gan.seg.evaluate import confusion_over
from gan.seg.frames import collate_frames, frame_confusion, overlay_samples, spread_indices
from gan.seg.metrics import metrics_from_confusion
from gan.seg.model import SegmentationModel
from gan.seg.transforms import JointAugment

from fake_camvid import VOID, write_fake_camvid
from PIL import Image

IGN = 255
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("encoder", SEG_ENCODERS)  # ResNets with random weights: no download
def test_non_square_frames_through_every_fusion_mode_and_encoder(encoder: str) -> None:
    torch.manual_seed(0)
    for fusion in FUSION_MODES:
        model = SegmentationModel(num_classes=11, channels=3, resolution=16, ngf=4, ndf=4, max_channels=16, fusion=fusion, encoder=encoder)
        x = torch.randn(1, 3, 18, 30, requires_grad=True)  # 18 is not a multiple of the 4 px stride
        logits = model(x)
        assert logits.shape == (1, 11, 18, 30), (encoder, fusion)
        logits.square().mean().backward()
        assert x.grad is not None and x.grad[..., -1, -1].abs().sum() > 0  # the last row/column is reached
    with torch.no_grad():
        assert model(torch.randn(1, 3, 40, 12)).shape == (1, 11, 40, 12)  # portrait too


class FixedLogits(nn.Module):
    """A 'model' returning given logits, to score hand-made predictions."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits.detach().expand(len(images), -1, -1, -1)


def test_native_size_scoring_upsamples_logits_bilinearly_by_hand() -> None:
    # class1 - class0 logit difference [-1, 3] over 2 columns, upsampled (bilinear, align_corners
    # False) to 6 columns: sources -1/3, 0, 1/3, 2/3, 1, 4/3 clamp to 0, 0, 1/3, 2/3, 1, 1 ->
    # differences -1, -1, 1/3, 5/3, 3, 3 -> predictions 0 0 1 1 1 1 (nearest would give 0 0 0 1 1 1).
    logits = torch.tensor([[[[0.0, 0.0]], [[-1.0, 3.0]]]])
    mask = torch.tensor([[0, 0, 0, 0, 1, IGN]])
    confusion = confusion_over(FixedLogits(logits), [(torch.zeros(1, 3, 1, 2), [mask])], 2, IGN)
    # valid pixels: truth 0 0 0 0 1, prediction 0 0 1 1 1 -> class 0: tp 2, union 4; class 1: tp 1, union 3
    assert confusion.tolist() == [[2, 2], [0, 1]]
    m = metrics_from_confusion(confusion)
    assert m.iou == pytest.approx([2 / 4, 1 / 3]) and m.miou == pytest.approx(5 / 12)


def test_masks_of_different_sizes_are_each_counted_once() -> None:
    masks = [torch.zeros(5, 7, dtype=torch.long), torch.ones(3, 4, dtype=torch.long)]
    masks[0][0, :3] = IGN
    images, batched = collate_frames([(torch.zeros(1, 4, 6), masks[0]), (torch.zeros(1, 4, 6), masks[1])])
    assert images.shape == (2, 1, 4, 6) and isinstance(batched, list)
    confusion = frame_confusion(torch.randn(2, 2, 4, 6), batched, 2, IGN)
    assert int(confusion.sum()) == 5 * 7 - 3 + 3 * 4 and int(confusion[0].sum()) == 32 and int(confusion[1].sum()) == 12


def _non_void_pixels(files) -> int:
    return sum(int((np.array(Image.open(f)) != VOID).sum()) for f in files)


@pytest.mark.parametrize("native", [False, True])
def test_evaluation_counts_every_non_void_pixel_of_every_frame_once(tmp_path, native: bool) -> None:
    written = write_fake_camvid(tmp_path, size=(30, 44), counts={"train": 2, "val": 5})
    # whole frames at their own size, or (native) resized to 16 x 24 and scored at 30 x 44
    cfg = SegDataConfig(name="camvid", root=str(tmp_path), size=[16, 24] if native else [30, 44])
    data = build_seg_data(cfg, native_masks=native)
    image, mask = data.val[0]
    assert image.shape[-2:] == (cfg.size[0], cfg.size[1]) and mask.shape == (30, 44)
    model = SegmentationModel(num_classes=11, channels=3, resolution=16, ngf=4, ndf=4, max_channels=16)
    loader = DataLoader(data.val, batch_size=2, collate_fn=collate_frames)  # 2 + 2 + 1: a partial batch
    confusion = confusion_over(model, loader, 11, IGN)
    assert int(confusion.sum()) == _non_void_pixels(written["val"])
    # every class of the fake set appears in the labels (all 11 CamVid classes are exercised)
    assert (confusion.sum(1) > 0).all()


def test_camvid_void_is_ignored_and_split_eval_picks_test(tmp_path) -> None:
    write_fake_camvid(tmp_path, size=(30, 44), counts={"train": 2, "val": 3, "test": 2})
    data = build_seg_data(SegDataConfig(name="camvid", root=str(tmp_path), size=[30, 44], split_eval="test"))
    assert len(data.val) == 2 and len(data.train) == 2
    raw = np.array(Image.open(tmp_path / "testannot" / "test_000.png"))
    _, mask = data.val[0]
    assert torch.equal(mask == IGN, torch.from_numpy(raw == VOID)) and int(mask[mask != IGN].max()) <= 10


def test_camvid_mask_value_above_void_is_one_line_error_naming_the_file(tmp_path) -> None:
    write_fake_camvid(tmp_path, size=(30, 44), counts={"train": 2, "val": 1})
    bad = np.array(Image.open(tmp_path / "valannot" / "val_000.png"))
    bad[3, 3] = 12
    Image.fromarray(bad).save(tmp_path / "valannot" / "val_000.png")
    data = build_seg_data(SegDataConfig(name="camvid", root=str(tmp_path), size=[30, 44]))
    with pytest.raises(Exception, match=r"valannot/val_000\.png' holds value 12, expected 0\.\.11") as err:
        data.val[0]
    assert "\n" not in str(err.value) and type(err.value).__name__ == "DataError"


def test_crops_and_scale_jitter_keep_image_and_mask_aligned() -> None:
    torch.manual_seed(0)
    mask = torch.randint(0, 5, (24, 40))
    mask[::7] = 4
    image = (mask.float() / 4 * 2 - 1).expand(1, -1, -1)  # the image encodes the label
    aug = JointAugment(["hflip"], (24, 40), IGN, crop=(16, 20))
    rng = torch.Generator().manual_seed(1)
    for _ in range(5):
        img, msk = aug(image, mask, rng)
        assert img.shape == (1, 16, 20) and msk.shape == (16, 20)
        assert torch.equal(((img[0] + 1) / 2 * 4).round().long(), msk)  # same window, no resampling
    shrink = JointAugment([], (24, 40), IGN, crop=(16, 32), scale_jitter=(0.5, 0.5))  # 12 x 20 frame < crop
    img, msk = shrink(image, mask, rng)
    assert msk.shape == (16, 32) and (msk == IGN).sum() == 16 * 32 - 12 * 20  # padding is ignored, not a class
    assert set(msk[msk != IGN].unique().tolist()) <= set(range(5))


def test_overlay_images_are_spread_over_the_set() -> None:
    assert spread_indices(10, 3) == [0, 4, 9]
    assert spread_indices(101, 4) == [0, 33, 66, 100]
    assert spread_indices(3, 5) == [0, 1, 2] and spread_indices(7, 1) == [0] and spread_indices(7, 0) == []

    class Frames(torch.utils.data.Dataset):
        seen: list[int] = []

        def __len__(self) -> int:
            return 9

        def __getitem__(self, i: int):
            self.seen.append(i)
            return torch.full((3, 16, 24), float(i) / 9), torch.zeros(32, 48, dtype=torch.long)

    frames = Frames()
    model = SegmentationModel(num_classes=2, channels=3, resolution=16, ngf=4, ndf=4, max_channels=16)
    images, masks, preds = overlay_samples(model, frames, 3)
    assert frames.seen == [0, 4, 8] and images[2, 0, 0, 0] == pytest.approx(8 / 9)
    assert preds[0].shape == (32, 48)  # predictions at the (native) mask size


@pytest.mark.parametrize("override, key", [
    (["data.name=pairs", "data.num_classes=2", "data.crop=[16, 24]", "data.augment=[rot90]"], "data.augment"),
    (["data.name=pairs", "data.num_classes=2", "data.size=[32, 48]", "data.scale_jitter=[0.5, 1.5]"], "data.scale_jitter"),
    (["data.name=pairs", "data.num_classes=2", "eval.native_size=true"], "eval.native_size"),
    (["data.size=[32, 48]"], "data.size"),  # shapes are square
    (["data.name=pairs", "data.num_classes=2", "data.size=[32, 48]", "data.crop=[40, 40]"], "data.crop"),
    (["data.name=pairs", "data.num_classes=2", "data.split_eval=test"], "data.split_eval"),
])
def test_inconsistent_frame_settings_are_one_line_config_errors(override: list[str], key: str) -> None:
    with pytest.raises(ConfigError, match=f"config key '{key}'") as err:
        load_seg_config(None, override)
    assert "\n" not in str(err.value)


def test_segfiles_native_masks_keep_the_file_size(tmp_path) -> None:
    written = write_fake_camvid(tmp_path, size=(30, 44), counts={"train": 1})
    image_file = tmp_path / "train" / written["train"][0].name
    ds = SegFiles([(image_file, written["train"][0])], (15, 22), 3, 11, IGN, {VOID: IGN})
    assert ds[0][1].shape == (15, 22)
    ds.native_masks = True
    assert ds[0][0].shape == (3, 15, 22) and ds[0][1].shape == (30, 44)


def test_camvid_config_trains_and_predicts_from_the_cli(tmp_path, capsys) -> None:
    import predict_seg
    import train_seg

    from gan.seg.data import CAMVID_PALETTE

    root, out = tmp_path / "camvid", tmp_path / "run"
    write_fake_camvid(root, size=(30, 44), counts={"train": 4, "val": 2, "test": 3})
    tiny = [
        f"data.root={root}", f"out_dir={out}", "data.size=[20, 28]", "data.crop=[16, 20]", "data.resolution=16",
        "model.ngf=4", "model.ndf=4", "model.max_channels=16", "train.steps=2", "train.batch_size=2",
        "eval.every=2", "eval.batch_size=2", "eval.overlay_images=2", "checkpoint.every=2", "log.every=1",
    ]
    config = REPO / "configs" / "seg_camvid.yaml"
    assert train_seg.main(["--config", str(config), *tiny]) == 0
    assert "median-frequency class weights" in capsys.readouterr().out
    evals = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [2] and len(evals[0]["iou"]) == 11
    assert (out / "overlays" / "step-0000002.png").is_file() and (out / "best" / "segmenter.json").is_file()
    masks = tmp_path / "masks"
    assert predict_seg.main([str(out), str(root / "test"), str(masks), "--color"]) == 0
    for name in ("test_000.png", "test_002.png"):
        labels = np.array(Image.open(masks / name))
        assert labels.shape == (30, 44) and labels.max() <= 10  # the frame's own size, CamVid classes
        colours = {tuple(c) for c in np.array(Image.open(masks / name.replace(".png", "_color.png"))).reshape(-1, 3)}
        assert colours <= set(CAMVID_PALETTE)


def test_class_weights_are_cached_per_mask_files(tmp_path) -> None:
    from gan.seg.class_weights import cached_class_weights

    written = write_fake_camvid(tmp_path / "camvid", size=(30, 44), counts={"train": 3, "val": 1})
    data = build_seg_data(SegDataConfig(name="camvid", root=str(tmp_path / "camvid"), size=[30, 44]))
    first, cached = cached_class_weights(data.train, 11, IGN, 500, tmp_path / "cache")
    assert not cached and first.shape == (11,)
    again, cached = cached_class_weights(data.train, 11, IGN, 500, tmp_path / "cache")
    assert cached and torch.equal(first, again)
    label = np.array(Image.open(written["train"][0]))
    label[1:, :] = 3  # mostly road now: the weights must be recomputed
    Image.fromarray(label).save(written["train"][0])
    changed, cached = cached_class_weights(data.train, 11, IGN, 500, tmp_path / "cache")
    assert not cached and not torch.equal(first, changed) and changed[3] < first[3]
