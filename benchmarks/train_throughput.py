"""Training throughput of the classic DCGAN-64: the toolkit against a plain PyTorch loop.

    python benchmarks/train_throughput.py                  # nz=100, ngf=ndf=64, batch 64, 64x64
    python benchmarks/train_throughput.py --steps 10 --warmup 3   # quick check

The reference is the pytorch/examples DCGAN training step written out plainly (BCE on sigmoid
outputs, one D and one G update per batch, fakes reused for the G step). The toolkit runs its
real `Trainer` + `GANTask` (Accelerate, EMA, per-step JSONL log, progress bar, non-finite checks).
Both read the same procedural shapes data through a DataLoader with the same batch size, and both
are timed after ``--warmup`` steps. Prints images/s for each and the toolkit's overhead.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan.config import load_config
from gan.generation.config import GANConfig  # noqa: E402
from gan.data import ShapesDataset  # noqa: E402
from gan.engine.setup import make_accelerator  # noqa: E402
from gan.engine.trainer import Hook, Trainer  # noqa: E402
from gan.generation.task import GANTask  # noqa: E402
from gan.models import dcgan_init  # noqa: E402


def reference_models(nz: int, ngf: int, ndf: int) -> tuple[nn.Module, nn.Module]:
    """The pytorch/examples DCGAN networks for 64x64 RGB."""
    g = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh(),
    )
    d = nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
    )
    dcgan_init(g)
    dcgan_init(d)
    return g, d


def reference_images_per_s(args: argparse.Namespace) -> float:
    g, d = reference_models(args.nz, args.ngf, args.ndf)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(ShapesDataset(args.dataset_size, 64), batch_size=args.batch, shuffle=True, drop_last=True)
    bce = nn.BCELoss()
    start, done = 0.0, 0
    while done < args.warmup + args.steps:
        for real in loader:
            if done == args.warmup:
                start = time.perf_counter()
            if done == args.warmup + args.steps:
                break
            n = real.shape[0]
            d.zero_grad()
            err_real = bce(d(real).view(-1), torch.ones(n))
            err_real.backward()
            fake = g(torch.randn(n, args.nz, 1, 1))
            err_fake = bce(d(fake.detach()).view(-1), torch.zeros(n))
            err_fake.backward()
            opt_d.step()
            g.zero_grad()
            bce(d(fake).view(-1), torch.ones(n)).backward()
            opt_g.step()
            done += 1
    return args.steps * args.batch / (time.perf_counter() - start)


def toolkit_images_per_s(args: argparse.Namespace) -> float:
    total = args.warmup + args.steps
    with tempfile.TemporaryDirectory() as out:
        cfg = load_config(GANConfig, None, [
            f"out_dir={out}", "data.name=shapes", "data.resolution=64", f"data.shapes_size={args.dataset_size}",
            f"model.nz={args.nz}", f"model.ngf={args.ngf}", f"model.ndf={args.ndf}", f"train.batch_size={args.batch}",
            f"train.steps={total}", f"log.tracker={args.tracker}", "log.every=25", f"log.sample_every={total}",
            f"checkpoint.every={total}",
        ])
        acc, logger = make_accelerator(cfg)
        stamps: dict[int, float] = {}
        timer = Hook(1, lambda step: stamps.setdefault(step, time.perf_counter()) and None)
        Trainer(cfg, GANTask(cfg, acc), acc, logger, [timer]).fit()
    return args.steps * args.batch / (stamps[total] - stamps[args.warmup])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30, help="timed steps")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--nz", type=int, default=100)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--dataset-size", type=int, default=4096)
    p.add_argument("--tracker", default="none", choices=["none", "wandb", "tensorboard"])
    args = p.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, {args.steps} timed steps after {args.warmup}")
    ref = reference_images_per_s(args)
    print(f"reference loop (pytorch/examples DCGAN step): {ref:.1f} images/s")
    ours = toolkit_images_per_s(args)
    print(f"toolkit (Accelerate + EMA + logging, tracker={args.tracker}): {ours:.1f} images/s")
    print(f"toolkit overhead: {100 * (ref - ours) / ref:+.1f}% (negative = faster)")


if __name__ == "__main__":
    main()
