"""Training throughput of the classic DCGAN-64: the toolkit against a plain PyTorch loop.

    python benchmarks/train_throughput.py                  # nz=100, ngf=ndf=64, batch 64, 64x64
    python benchmarks/train_throughput.py --steps 10 --warmup 3   # quick check
    python benchmarks/train_throughput.py --make-folder /tmp/mnist2560        # 256 PNGs per digit
    python benchmarks/train_throughput.py --whole-process --folder /tmp/mnist2560 --runs 3
    python benchmarks/train_throughput.py --whole-process --folder /tmp/mnist2560 --override train.mixed_precision=no

Whole-process mode (``--whole-process``) times complete commands, start-up included: the README's
``accelerate launch train_gan.py --config configs/image_folder.yaml ...`` for ``--steps`` steps
against a plain pytorch/examples-style DCGAN script (``plain_dcgan.py``, below), on the same folder.
``--override key=value`` adds settings to the README command only (``train.mixed_precision=no``: the
float32 path that a CPU without native bf16 takes by default).

The reference is the pytorch/examples DCGAN training step written out plainly (BCE on sigmoid
outputs, one D and one G update per batch, fakes reused for the G step). The toolkit runs its
real `Trainer` + `GANTask` (Accelerate, EMA, per-step JSONL log, progress bar, non-finite checks).
Both read the same procedural shapes data through a DataLoader with the same batch size, and both
are timed after ``--warmup`` steps. Prints images/s for each and the toolkit's overhead.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
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
from gan.engine.trainer import Hook, Trainer, TrainerSettings  # noqa: E402
from gan.generation.task import GANTask  # noqa: E402
from plain_dcgan import dcgan_networks, train_step  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from train_matrix import Clock  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MNIST_PNGS = Path("/work/shared/data/mnist-test")  # <digit>/<index>.png


def reference_models(nz: int, ngf: int, ndf: int) -> tuple[nn.Module, nn.Module]:
    """The pytorch/examples DCGAN networks for 64x64 RGB (those of the plain script)."""
    return dcgan_networks(nz, ngf, ndf)


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
            train_step(g, d, opt_g, opt_d, bce, real, args.nz)
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
        task = GANTask(cfg, acc)
        clock = Clock(acc.device, (args.warmup, total))
        Trainer(TrainerSettings.of(cfg), task, acc, logger, [Hook(1, clock)]).fit()
    return clock.result(args.warmup, args.steps, args.batch)["images_per_s"]


def make_folder(dest: Path, source: Path = MNIST_PNGS, per_class: int = 256) -> None:
    """Copy the first ``per_class`` PNGs (sorted) of each digit folder of ``source`` into ``dest/<digit>/``."""
    for digit in sorted(p for p in source.iterdir() if p.is_dir()):
        (dest / digit.name).mkdir(parents=True, exist_ok=True)
        for png in sorted(digit.glob("*.png"))[:per_class]:
            shutil.copy2(png, dest / digit.name / png.name)
    print(f"{sum(1 for _ in dest.rglob('*.png'))} PNGs in {dest}")


def timed(cmd: list[str], cwd: Path) -> float:
    """Wall seconds of a whole command; its output is shown only when it fails."""
    start = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"command failed ({res.returncode}): {' '.join(cmd)}\n{(res.stdout + res.stderr)[-3000:]}")
    return seconds


def whole_process(args: argparse.Namespace) -> None:
    """Run the README command and the plain script in turn, ``--runs`` times each; print the ratio."""
    plain_script = str(Path(__file__).with_name("plain_dcgan.py"))
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"
    folder = Path(args.folder).resolve()
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            toolkit_cmd = [
                accelerate, "launch", "train_gan.py", "--config", "configs/image_folder.yaml", f"data.root={folder}",
                f"train.steps={args.steps}", "log.tracker=none", f"checkpoint.every={args.steps}",
                f"log.sample_every={args.steps}", f"out_dir={Path(tmp) / f'toolkit{run}'}", *args.override,
            ]
            plain_cmd = [sys.executable, plain_script, "--dataroot", str(folder), "--iters", str(args.steps),
                         "--outf", str(Path(tmp) / f"plain{run}")]
            ours.append(timed(toolkit_cmd, REPO))
            plain.append(timed(plain_cmd, REPO))
            print(f"run {run + 1}: toolkit {ours[-1]:.1f} s, plain script {plain[-1]:.1f} s", flush=True)
    ratio = statistics.median(p / o for p, o in zip(plain, ours))
    print(f"median toolkit {statistics.median(ours):.1f} s, plain {statistics.median(plain):.1f} s; "
          f"median ratio plain/toolkit {ratio:.2f} (> 1: the toolkit is faster)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 30); --whole-process: steps of each run (default 40)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--nz", type=int, default=100)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--dataset-size", type=int, default=4096)
    p.add_argument("--tracker", default="none", choices=["none", "wandb", "tensorboard"])
    p.add_argument("--make-folder", metavar="DIR", help="write the 2560-PNG MNIST folder (256 per digit) and exit")
    p.add_argument("--whole-process", action="store_true", help="time whole commands (see above); --steps sets the steps")
    p.add_argument("--folder", help="image folder for --whole-process")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="--whole-process: a setting added to the README command (repeatable)")
    args = p.parse_args()
    args.steps = args.steps or (40 if args.whole_process else 30)
    if args.make_folder:
        return make_folder(Path(args.make_folder))
    if args.whole_process:
        if not args.folder:
            p.error("--whole-process needs --folder DIR (make one with --make-folder DIR)")
        return whole_process(args)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, {args.steps} timed steps after {args.warmup}")
    ref = reference_images_per_s(args)
    print(f"reference loop (pytorch/examples DCGAN step): {ref:.1f} images/s")
    ours = toolkit_images_per_s(args)
    print(f"toolkit (Accelerate + EMA + logging, tracker={args.tracker}): {ours:.1f} images/s")
    print(f"toolkit / reference: {ours / ref:.2f}x (> 1: the toolkit is faster)")


if __name__ == "__main__":
    main()
