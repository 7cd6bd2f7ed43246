"""Throughput of FID evaluation: generated images scored per second, first run and cached run.

    python benchmarks/eval_throughput.py                      # 32 and 64 px, 64 images each
    python benchmarks/eval_throughput.py --num 500 --device cuda --weights /models/weights-inception-2015-12-05-6726825d.pth

The default extractor (torch-fidelity's InceptionV3, images resized to 299 px inside) scores the
images of a randomly initialised DCGAN generator against procedural shapes at the same resolution.
"first" starts with an empty real-statistics cache (real features are extracted too); "cached"
is a second evaluation that reads them from the cache. Without real Inception weights (no network
here) a randomly initialised file of the same format is used: the speed is the same, the scores are
meaningless and are not printed.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from gan.config import DataConfig, EvalConfig
from gan.evaluation import Evaluator, MissingWeightsError, resolve_inception_weights, write_random_inception_weights
from gan.models import Generator

NZ = 100


def weights_file(path: str, scratch: Path) -> tuple[str, str]:
    """Real Inception weights when available, else a random file of the same format."""
    try:
        return str(resolve_inception_weights(path)), "pretrained"
    except MissingWeightsError:
        return str(write_random_inception_weights(scratch / "random-inception.pth")), "random (timing only)"


def time_resolution(resolution: int, args: argparse.Namespace, weights: str, cache: Path) -> tuple[float, float]:
    """Images per second of the first (uncached) and the second (cached) evaluation."""
    torch.manual_seed(0)
    gen = Generator(nz=NZ, channels=3, resolution=resolution, ngf=64).to(args.device).eval()
    data = DataConfig(name="shapes", resolution=resolution, shapes_size=args.num)
    cfg = EvalConfig(num_samples=args.num, batch_size=args.batch_size, inception_weights=weights, metrics=["fid"])
    rates = []
    for _ in range(2):  # a fresh evaluator each time, as in a new process; the cache persists
        evaluator = Evaluator(cfg, data, cache / f"{resolution}px", args.device)
        evaluator.feature_extractor()  # building InceptionV3 is a one-off, not scoring
        start = time.perf_counter()
        evaluator.evaluate_generator(gen, NZ, progress=False)
        rates.append(args.num / (time.perf_counter() - start))
    return rates[0], rates[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num", type=int, default=64, help="generated images (and real images) per evaluation")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--resolutions", default="32,64")
    p.add_argument("--weights", default="", help="torch-fidelity Inception weights (default: torch hub cache)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        weights, kind = weights_file(args.weights, Path(tmp))
        print(f"FID throughput, inception-v3-compat ({kind} weights), {args.num} generated vs {args.num} real, "
              f"batch {args.batch_size}, device {args.device}, torch threads {torch.get_num_threads()}")
        for res in (int(r) for r in args.resolutions.split(",")):
            first, cached = time_resolution(res, args, weights, Path(tmp) / "cache")
            print(f"{res:>3}x{res:<3} first run (real stats computed): {first:7.2f} img/s   cached run: {cached:7.2f} img/s")


if __name__ == "__main__":
    main()
