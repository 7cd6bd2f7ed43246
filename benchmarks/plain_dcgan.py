"""A plain DCGAN training script in the style of pytorch/examples dcgan/main.py (the benchmark's reference).

    python benchmarks/plain_dcgan.py --dataroot /tmp/mnist2560 --iters 40 --outf /tmp/plain
    python benchmarks/plain_dcgan.py --dataroot ../shared/data/cifar10-test --imageSize 32 --iters 100000 --save-every-s 20 --outf /tmp/plain32

The same work as that example: torchvision ImageFolder (PNG decode, resize, centre crop, [-1, 1]),
2 loader workers, batch 64, 64x64 RGB, the DCGAN G/D with N(0, 0.02) init, BCE on sigmoid outputs,
Adam(2e-4, beta1 0.5), one D and one G update per batch with the fakes reused, a loss line per
iteration, image grids at the first iteration and the weights at the end. It stops after ``--iters``
iterations instead of whole epochs. ``--imageSize 32`` drops one block at each end of G and D (the
usual DCGAN for 32x32 images; the example itself only has the 64x64 nets); ``--save-every-s`` also
writes ``netG_<iter>.pth`` every so many seconds (for quality-against-time benchmarks). Only torch
and torchvision: no toolkit code.
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch
from torch import nn


def weights_init(m: nn.Module) -> None:
    """N(0, 0.02) conv weights; N(1, 0.02) BatchNorm scales with zero shifts."""
    name = type(m).__name__
    if "Conv" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def dcgan_networks(nz: int = 100, ngf: int = 64, ndf: int = 64, nc: int = 3, image_size: int = 64) -> tuple[nn.Module, nn.Module]:
    """The DCGAN generator (latent (N, nz, 1, 1) -> image_size px) and discriminator (-> probability), initialised.

    ``image_size`` 64 is the example's pair; 32 the same pair without its widest G block and D block.
    """
    if image_size not in (32, 64):
        raise SystemExit(f"--imageSize {image_size}: this script has DCGAN nets for 32 and 64 px")
    top = 8 if image_size == 64 else 4  # width multiplier of G's first and D's last block
    g_layers: list[nn.Module] = [nn.ConvTranspose2d(nz, ngf * top, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * top), nn.ReLU(True)]
    d_layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    width = top
    while width > 1:
        g_layers += [nn.ConvTranspose2d(ngf * width, ngf * width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * width // 2), nn.ReLU(True)]
        width //= 2
    while width < top:
        d_layers += [nn.Conv2d(ndf * width, ndf * width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * width * 2), nn.LeakyReLU(0.2, inplace=True)]
        width *= 2
    g = nn.Sequential(*g_layers, nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(*d_layers, nn.Conv2d(ndf * top, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    g.apply(weights_init)
    d.apply(weights_init)
    return g, d


def train_step(net_g: nn.Module, net_d: nn.Module, opt_g, opt_d, criterion: nn.Module, real: torch.Tensor, nz: int):
    """One pytorch/examples DCGAN iteration: a D update on real and fake, then a G update on the same fakes."""
    n = real.size(0)
    # D: maximise log D(x) + log(1 - D(G(z)))
    net_d.zero_grad()
    err_d_real = criterion(net_d(real).view(-1), torch.ones(n, device=real.device))
    err_d_real.backward()
    fake = net_g(torch.randn(n, nz, 1, 1, device=real.device))
    err_d_fake = criterion(net_d(fake.detach()).view(-1), torch.zeros(n, device=real.device))
    err_d_fake.backward()
    opt_d.step()
    # G: maximise log D(G(z)), on the same fakes
    net_g.zero_grad()
    err_g = criterion(net_d(fake).view(-1), torch.ones(n, device=real.device))
    err_g.backward()
    opt_g.step()
    return err_d_real + err_d_fake, err_g


def folder_loader(root: str, image_size: int, batch_size: int, workers: int) -> torch.utils.data.DataLoader:
    """The example's data path: torchvision ImageFolder, PIL decode + resize + centre crop + [-1, 1], shuffled."""
    import torchvision.datasets as dset
    import torchvision.transforms as transforms

    dataset = dset.ImageFolder(root=root, transform=transforms.Compose([
        transforms.Resize(image_size),
        transforms.CenterCrop(image_size),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ]))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataroot", required=True, help="an ImageFolder root (one sub-folder per class)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batchSize", type=int, default=64)
    p.add_argument("--imageSize", type=int, default=64)
    p.add_argument("--nz", type=int, default=100)
    p.add_argument("--iters", type=int, default=40, help="training iterations (batches)")
    p.add_argument("--outf", default="plain_out")
    p.add_argument("--manualSeed", type=int, default=999)
    p.add_argument("--save-every-s", type=float, default=0, help="also save netG_<iter>.pth every so many seconds (0: only at the end)")
    args = p.parse_args()

    import torchvision.utils as vutils

    Path(args.outf).mkdir(parents=True, exist_ok=True)
    random.seed(args.manualSeed)
    torch.manual_seed(args.manualSeed)
    loader = folder_loader(args.dataroot, args.imageSize, args.batchSize, args.workers)
    net_g, net_d = dcgan_networks(args.nz, image_size=args.imageSize)
    criterion = nn.BCELoss()
    fixed_noise = torch.randn(args.batchSize, args.nz, 1, 1)
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))

    it, last_save = 0, time.monotonic()
    while it < args.iters:
        for real, _ in loader:
            if it == args.iters:
                break
            err_d, err_g = train_step(net_g, net_d, opt_g, opt_d, criterion, real, args.nz)
            print(f"[{it}/{args.iters}] Loss_D: {err_d.item():.4f} Loss_G: {err_g.item():.4f}", flush=True)
            if it % 100 == 0:
                vutils.save_image(real, f"{args.outf}/real_samples.png", normalize=True)
                with torch.no_grad():
                    vutils.save_image(net_g(fixed_noise), f"{args.outf}/fake_samples_{it:04d}.png", normalize=True)
            it += 1
            if args.save_every_s and time.monotonic() - last_save >= args.save_every_s:
                torch.save(net_g.state_dict(), f"{args.outf}/netG_{it:07d}.pth")
                last_save = time.monotonic()
    torch.save(net_g.state_dict(), f"{args.outf}/netG.pth")
    torch.save(net_d.state_dict(), f"{args.outf}/netD.pth")


if __name__ == "__main__":
    main()
