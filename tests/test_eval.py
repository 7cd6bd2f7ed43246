"""Evaluation: torch-fidelity metrics on random-weight Inception, the real-stat cache, extractors, offline errors.

Nothing is downloaded: a randomly initialised InceptionV3 in torch-fidelity's format is written to a
temp folder. Most tests shrink Inception's internal resize (299 -> 75 px, its smallest valid input)
to stay fast on 2 CPU cores; the self-FID test runs at the real 299 px.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity.utils as fu
from torch import nn
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from gan.config import DataConfig, EvalConfig
from gan.data import ShapesDataset
from gan.evaluation import EvalError, Evaluator, MissingWeightsError, parse_metrics, register_module_extractor, resolve_inception_weights
from gan.evaluation import real_cache
from gan.evaluation.extractors import ExtractorSpec
from gan.evaluation.frechet import frechet_distance
from gan.evaluation.weights import INCEPTION_FILE
from gan.models import Generator
from gan.models.generate import to_uint8_rgb

RES, N = 16, 8


@pytest.fixture
def fast_inception(monkeypatch):
    monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)


def shapes_data(size: int = N) -> DataConfig:
    return DataConfig(name="shapes", resolution=RES, channels=3, shapes_size=size)


def real_images(size: int = N) -> torch.Tensor:
    ds = ShapesDataset(size, RES, 3, 0)
    return torch.stack([ds[i] for i in range(size)])


def make_evaluator(weights: str, cache, metrics=("fid",), **kw) -> Evaluator:
    cfg = EvalConfig(num_samples=N, metrics=list(metrics), batch_size=N, inception_weights=weights, **kw)
    return Evaluator(cfg, shapes_data(), cache)


def noisy(images: torch.Tensor, sigma: float) -> torch.Tensor:
    return images + sigma * torch.randn(images.shape, generator=torch.Generator().manual_seed(1))


# ---- pure functions -----------------------------------------------------------------------------


def test_frechet_distance_by_hand_and_against_torch_fidelity():
    # 1-D: fake features {0, 2} -> mu 1, var 2; real mu 3, var 8: (1-3)^2 + 2 + 8 - 2*sqrt(16) = 6
    assert frechet_distance(np.array([[0.0], [2.0]]), np.array([3.0]), np.array([[8.0]])) == pytest.approx(6.0)
    rng = np.random.default_rng(0)
    real = torch.from_numpy(rng.normal(1.0, 1.5, size=(150, 64)).astype(np.float32))
    real_stats = fid_features_to_statistics(real)
    for n in (10, 64, 200):  # fewer, as many and more samples than dimensions
        fake = torch.from_numpy(rng.normal(size=(n, 64)).astype(np.float32))
        ref = fid_statistics_to_metric(fid_features_to_statistics(fake), real_stats, False)["frechet_inception_distance"]
        assert frechet_distance(fake.numpy(), real_stats["mu"], real_stats["sigma"]) == pytest.approx(ref, rel=1e-6)


def test_uint8_conversion_rounds_and_repeats_gray():
    gray = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2)
    out = to_uint8_rgb(gray)
    assert out.dtype == torch.uint8 and out.shape == (1, 3, 2, 2)
    assert out[0, 0].flatten().tolist() == [0, 128, 255, 255]  # 127.5 rounds to even 128; 2.0 is clamped
    assert torch.equal(out[0, 0], out[0, 2])


def test_metric_names_and_config_errors(weights, tmp_path):
    assert [m.name for m in parse_metrics(["FID", "isc", "pr", "fid"])] == ["fid", "is", "prc"]
    with pytest.raises(EvalError, match="unknown metric 'lpips'"):
        parse_metrics(["lpips"])
    with pytest.raises(EvalError, match="eval.num_samples"):
        Evaluator(EvalConfig(num_samples=1, inception_weights=weights), shapes_data(), tmp_path)
    with pytest.raises(EvalError, match="eval.feature_extractor: got 'clip'"):
        Evaluator(EvalConfig(feature_extractor="clip", inception_weights=weights), shapes_data(), tmp_path)


def test_cache_key_changes_with_resolution_weights_and_count():
    spec = ExtractorSpec("inception-v3-compat", "inception-v3-compat", None, "a" * 64)
    base = real_cache.real_key_parts(shapes_data(), N, N, 0, spec)
    name = real_cache.real_cache_name(base)
    assert name.startswith("shapes-procedural-16px-") and name == real_cache.real_cache_name(dict(base))
    other_res = real_cache.real_key_parts(DataConfig(name="shapes", resolution=32, shapes_size=N), N, N, 0, spec)
    other_weights = real_cache.real_key_parts(shapes_data(), N, N, 0, ExtractorSpec("inception-v3-compat", "x", None, "b" * 64))
    fewer = real_cache.real_key_parts(shapes_data(), N, N // 2, 0, spec)
    names = {name, *(real_cache.real_cache_name(p) for p in (other_res, other_weights, fewer))}
    assert len(names) == 4


# ---- weights: offline resolution ----------------------------------------------------------------


def test_weights_explicit_path_hub_cache_and_missing(weights, tmp_path, monkeypatch):
    assert resolve_inception_weights(weights) == Path(weights).resolve()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # eval.download_weights=auto would fetch the file on an online machine
    with pytest.raises(MissingWeightsError) as err:
        resolve_inception_weights("")
    message = str(err.value)
    assert "\n" not in message and INCEPTION_FILE in message and str(tmp_path / "torch_home" / "hub" / "checkpoints") in message
    hub_file = tmp_path / "torch_home" / "hub" / "checkpoints" / INCEPTION_FILE
    hub_file.parent.mkdir(parents=True)
    hub_file.symlink_to(weights)
    assert resolve_inception_weights("") == hub_file.resolve()
    with pytest.raises(MissingWeightsError, match="eval.inception_weights"):
        resolve_inception_weights(str(tmp_path / "nope.pth"))
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(EvalError, match="not a readable weights file"):
        Evaluator(EvalConfig(inception_weights=str(tmp_path / "bad.pth")), shapes_data(), tmp_path)


# ---- metrics through torch-fidelity -------------------------------------------------------------


def test_self_fid_is_zero_at_full_inception_resolution(weights, tmp_path):
    cfg = EvalConfig(num_samples=4, batch_size=4, inception_weights=weights, num_real=4)
    ev = Evaluator(cfg, shapes_data(size=10), tmp_path)  # a seeded subset of 4 of the 10 images
    real = torch.stack([ev.real_dataset()[i][0] for i in range(4)])
    result = ev.evaluate_images(real, progress=False)
    assert abs(result.values["fid"]) < 1e-4
    assert result.protocol["real"]["num_images"] == 4 and result.protocol["real"]["split_size"] == 10


def test_fid_grows_monotonically_with_noise(weights, tmp_path, fast_inception):
    ev, real = make_evaluator(weights, tmp_path), real_images()
    fids = [ev.evaluate_images(noisy(real, s), progress=False).values["fid"] for s in (0.1, 0.4, 1.0)]
    assert fids[0] > 1e-3  # far above the ~1e-8 numerical noise of a self-comparison
    assert all(a < b for a, b in zip(fids, fids[1:])), fids


def test_kid_is_prc_finite_and_protocol(weights, tmp_path, fast_inception):
    ev = make_evaluator(weights, tmp_path, metrics=("fid", "kid", "is", "prc"))
    result = ev.evaluate_images(real_images(), progress=False)
    v = result.values
    assert set(v) == {"fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision", "recall", "f_score"}
    assert all(math.isfinite(x) for x in v.values())
    assert v["is_mean"] >= 1.0 - 1e-9 and v["kid_std"] >= 0.0  # IS >= 1 up to float rounding
    assert v["precision"] == 1.0 and v["recall"] == 1.0  # every image is inside its own k-NN ball
    p = result.protocol
    assert p["generated"]["num_images"] == N and p["real"]["num_images"] == N and p["resolution"] == RES
    assert p["settings"]["kid_subset_size"] == N  # capped from 1000 to the images available
    assert p["feature_extractor"]["layers"] == {"fid": "2048", "kid": "2048", "isc": "logits_unbiased", "prc": "2048"}
    assert p["feature_extractor"]["weights_sha256"] == hashlib.sha256(open(weights, "rb").read()).hexdigest()


def test_second_evaluation_reuses_cached_real_statistics(weights, tmp_path, fast_inception, monkeypatch):
    calls = []
    original = fu.get_featuresdict_from_dataset
    monkeypatch.setattr(fu, "get_featuresdict_from_dataset", lambda *a, **k: calls.append(1) or original(*a, **k))
    torch.manual_seed(0)
    gen = Generator(nz=8, channels=3, resolution=RES, ngf=8).eval()
    first = make_evaluator(weights, tmp_path).evaluate_generator(gen, 8, progress=False)
    files = real_cache.cached_files(tmp_path, first.protocol["real_cache"]["name"])
    stamps = {p: p.stat().st_mtime_ns for p in files}
    assert len(calls) == 1 and not first.protocol["real_cache"]["hit"] and files
    second = make_evaluator(weights, tmp_path).evaluate_generator(gen, 8, progress=False)  # a new evaluator, same data
    assert len(calls) == 1 and second.protocol["real_cache"]["hit"]
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    assert second.values["fid"] == first.values["fid"]  # same seeded latents, same cached statistics
    assert (tmp_path / f"{first.protocol['real_cache']['name']}.json").is_file()


def test_generator_resolution_mismatch_is_one_line(weights, tmp_path):
    gen = Generator(nz=8, channels=3, resolution=32, ngf=8).eval()
    with pytest.raises(EvalError, match=r"shape \(3, 32, 32\) but the real data \(shapes\) has \(3, 16, 16\)"):
        make_evaluator(weights, tmp_path).evaluate_generator(gen, 8, progress=False)


# ---- custom feature extractors ------------------------------------------------------------------


class TinyFeatures(nn.Module):
    """A stand-in domain network: conv + global pooling -> 8 features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated in torch 2.14 but works
def test_torchscript_and_state_dict_extractors_agree(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = TinyFeatures().eval()
    torch.jit.save(torch.jit.script(net), tmp_path / "tiny.pt")
    save_file(net.state_dict(), tmp_path / "tiny.safetensors")
    register_module_extractor("tiny-test", TinyFeatures)
    real = real_images()
    results = {}
    for kind, path in (("torchscript", "tiny.pt"), ("tiny-test", "tiny.safetensors")):
        cfg = EvalConfig(num_samples=N, batch_size=N, feature_extractor=kind, feature_extractor_path=str(tmp_path / path),
                         trust_torchscript=kind == "torchscript")
        ev = Evaluator(cfg, shapes_data(), tmp_path / "cache")
        results[kind] = [ev.evaluate_images(noisy(real, s), progress=False) for s in (0.0, 0.5)]
    ts, mod = results["torchscript"], results["tiny-test"]
    assert abs(ts[0].values["fid"]) < 1e-6 and ts[1].values["fid"] > 1e-3
    assert mod[1].values["fid"] == pytest.approx(ts[1].values["fid"], rel=1e-5)
    assert ts[1].protocol["feature_extractor"]["layers"] == {"fid": "features"}
    assert ts[1].protocol["feature_extractor"]["name"] == "torchscript"
    assert ts[1].protocol["real_cache"]["name"] != mod[1].protocol["real_cache"]["name"]


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_features_only_extractor_refuses_inception_score(tmp_path):
    torch.jit.save(torch.jit.script(TinyFeatures()), tmp_path / "tiny.pt")
    cfg = EvalConfig(num_samples=N, batch_size=N, metrics=["is"], feature_extractor="torchscript", feature_extractor_path=str(tmp_path / "tiny.pt"),
                     trust_torchscript=True)
    with pytest.raises(EvalError, match="Inception Score needs"):
        Evaluator(cfg, shapes_data(), tmp_path).evaluate_images(real_images(), progress=False)
    with pytest.raises(EvalError, match="not a TorchScript file"):
        (tmp_path / "junk.pt").write_bytes(b"junk")
        Evaluator(EvalConfig(feature_extractor="torchscript", feature_extractor_path=str(tmp_path / "junk.pt"), trust_torchscript=True),
                  shapes_data(), tmp_path)


def test_a_requested_stop_ends_the_evaluation_before_its_next_batch(weights, tmp_path, fast_inception):
    from gan.process.stop import StopRequested, clear_stop, request_stop

    ev, gen = make_evaluator(weights, tmp_path), Generator(nz=8, channels=3, resolution=RES, ngf=8).eval()
    request_stop()  # what the trainer's SIGTERM/SIGINT handler does
    try:
        with pytest.raises(StopRequested):
            ev.evaluate_generator(gen, 8, progress=False)
        with pytest.raises(StopRequested):
            ev.evaluate_images(real_images(), progress=False)
    finally:
        clear_stop()
    assert not list(tmp_path.glob("*.safetensors"))  # nothing half-computed was cached
    assert ev.evaluate_images(real_images(), progress=False).values["fid"] < 1e-3  # cleared: evaluates again
