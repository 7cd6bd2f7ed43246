"""The fast CPU feature pass (gan/evaluation/fast.py) gives the plain float32 pass's features."""
from __future__ import annotations

import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from gan.config import DataConfig, EvalConfig
from gan.evaluation import Evaluator
from gan.evaluation.fast import fold_batch_norms, prepare_extractor
from gan.evaluation.inputs import UInt8Images


def inception(weights: str) -> FeatureExtractorInceptionV3:
    return FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=weights).eval()


def test_folded_nhwc_inception_gives_the_plain_features(weights, monkeypatch):
    monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)  # every layer still runs; seconds, not minutes
    images = torch.randint(0, 256, (3, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    plain = inception(weights)
    # Random BatchNorm statistics, so that the fold has something to fold (the random file's are 0 and 1).
    fast = inception(weights)
    gen = torch.Generator().manual_seed(1)
    for bn in (m for m in fast.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.normal_(0, 0.1, generator=gen)
        bn.running_var.uniform_(0.5, 2.0, generator=gen)
    plain.load_state_dict(fast.state_dict())
    with torch.no_grad():
        want = plain(images)
    assert prepare_extractor(fast, torch.device("cpu")) is fast
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())  # all 94 folded
    assert fast.Conv2d_1a_3x3.conv.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        got = fast(images)
    for a, b in zip(got, want):
        assert a.shape == b.shape and a.dtype == torch.float32
        assert (a - b).abs().max().item() <= 1e-4 * max(1.0, b.abs().max().item()), (a - b).abs().max().item()
    assert fold_batch_norms(fast) == 0  # nothing left to fold


def test_other_extractors_and_devices_are_left_alone():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).eval()
    assert prepare_extractor(net, torch.device("cpu")) is net and isinstance(net[1], torch.nn.BatchNorm2d)
    assert net[0].weight.is_contiguous()


def test_evaluator_features_equal_torch_fidelity_plain_pass(weights, tmp_path, monkeypatch):
    monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)  # smaller inputs: seconds, not minutes
    cfg = EvalConfig(num_samples=4, metrics=["fid"], batch_size=2, inception_weights=weights)
    ev = Evaluator(cfg, DataConfig(name="shapes", resolution=16, channels=3, shapes_size=4), tmp_path)
    real = UInt8Images(ev.real_dataset())
    got = ev.dataset_features(real)["2048"]
    plain = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=weights).eval()
    with torch.no_grad():
        want = plain(torch.stack([real[i] for i in range(len(real))]))[0]
    assert isinstance(ev.feature_extractor(), FeatureExtractorInceptionV3)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in ev.feature_extractor().modules())
    assert got.shape == (4, 2048) and torch.allclose(got, want, atol=1e-4, rtol=0)
