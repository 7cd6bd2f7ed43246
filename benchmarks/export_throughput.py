"""Throughput of the exported generator: onnxruntime (CPU) vs eager PyTorch, images per second.

    python benchmarks/export_throughput.py                    # DCGAN-64 (nz=100, ngf=64), batch 64
    python benchmarks/export_throughput.py --resolution 32 --ngf 32 --threads 4

The generator has random DCGAN-initialised weights with BatchNorm in eval mode (the speed does not
depend on the values). The ONNX file is the one ``export.py --format onnx`` writes (spectral norm and
BatchNorm folded, verified against PyTorch); eager PyTorch runs the unfolded model under
``torch.inference_mode``. Both use the same number of intra-op threads; each timing is the median of
``--repeats`` timed batches after warm-up batches.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from gan.deploy.runtime import export_runtime  # noqa: E402
from gan.deploy.source import Loaded, optional_extra  # noqa: E402
from gan.models import Generator  # noqa: E402
from gan.models.generate import latents_for_seeds  # noqa: E402


def median_seconds(fn: Callable[[], object], warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--nz", type=int, default=100)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    with optional_extra("onnxruntime", "export"):
        import onnxruntime as ort
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Generator(nz=args.nz, channels=3, resolution=args.resolution, ngf=args.ngf).eval().requires_grad_(False)
    meta = {"model": {"nz": args.nz, "channels": 3, "resolution": args.resolution, "ngf": args.ngf}, "step": 0}
    z = latents_for_seeds(range(args.batch), args.nz)
    with tempfile.TemporaryDirectory() as tmp:
        path, diff = export_runtime(Loaded(model, meta, "generator", Path(tmp)), "onnx", Path(tmp))
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {"z": z.numpy()}
        onnx_s = median_seconds(lambda: session.run(None, feed), args.warmup, args.repeats)

    def eager() -> torch.Tensor:
        with torch.inference_mode():
            return model(z)

    eager_s = median_seconds(eager, args.warmup, args.repeats)
    params = sum(t.numel() for t in model.parameters())
    print(f"generator {args.resolution}x{args.resolution}, nz={args.nz}, ngf={args.ngf} ({params:,} parameters), batch {args.batch}, "
          f"{args.threads} threads, torch {torch.__version__}, onnxruntime {ort.__version__}; ONNX verified, max abs diff {diff:.2g}")
    print(f"{'runtime':<22} {'s/batch':>8} {'images/s':>9}")
    for name, sec in (("eager PyTorch", eager_s), ("ONNX (onnxruntime)", onnx_s)):
        print(f"{name:<22} {sec:>8.3f} {args.batch / sec:>9.1f}")
    print(f"ONNX / eager: {eager_s / onnx_s:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
