"""The speed options side by side on whatever device is here: training images/s per configuration and batch.

    python benchmarks/train_matrix.py --folder /tmp/mnist2560                    # every row, batch 64 and 256
    python benchmarks/train_matrix.py --folder /tmp/mnist2560 --rows plain,fp32,bf16 --batches 64 --steps 15 --warmup 3

The speed issue's GPU list as one command: run it on the GPU machine (on a CPU it measures the same
rows there). DCGAN-64 (nz 100, ngf = ndf = 64, 64x64 RGB) on an image folder (make one with
``benchmarks/train_throughput.py --make-folder DIR``); every row runs in a fresh process, so precision
state, compile caches and allocator pools do not carry over from one row to the next:

  plain              the pytorch/examples DCGAN loop: ImageFolder + PIL, 2 loader workers, float32,
                     its loss read back every iteration (the example prints it)
  fp32-pil           the toolkit: float32, NCHW, data.cache=none (PIL decoding in 2 loader workers)
  fp32               + the decoded-data cache (data.cache=auto: in device memory on a GPU when it fits)
  bf16               + bf16 autocast
  bf16-nhwc          + channels_last
  bf16-nhwc-compile  + torch.compile (its warm-up, compilation included, is printed separately)
  fp16-nhwc          fp16 autocast with Accelerate's grad scaler instead of bf16 (GPU only)
  defaults           the toolkit's defaults, as the README command runs

Each row trains ``--warmup`` steps, then ``--steps`` timed ones: images/s = timed images / timed wall
seconds (a GPU is synchronised at those two points only). Printed as a table with the device's name
and each row's ratio to ``plain`` at the same batch; ``--json FILE`` also writes the rows.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]  # the toolkit, plain_dcgan

from plain_dcgan import dcgan_networks, folder_loader, train_step  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FP32_NCHW = ["train.mixed_precision=no", "train.channels_last=false", "train.compile=false"]
ROWS: dict[str, list[str] | None] = {  # toolkit overrides per row; None = the plain loop
    "plain": None,
    "fp32-pil": [*FP32_NCHW, "data.cache=none"],
    "fp32": [*FP32_NCHW, "data.cache=auto"],
    "bf16": ["train.mixed_precision=bf16", "train.channels_last=false", "train.compile=false"],
    "bf16-nhwc": ["train.mixed_precision=bf16", "train.channels_last=true", "train.compile=false"],
    "bf16-nhwc-compile": ["train.mixed_precision=bf16", "train.channels_last=true", "train.compile=true"],
    "fp16-nhwc": ["train.mixed_precision=fp16", "train.channels_last=true", "train.compile=false"],
    "defaults": [],
}
GPU_ONLY = {"fp16-nhwc": "fp16 needs a GPU (Accelerate trains it in float32 on a CPU)"}
RESULT = "RESULT "


class Clock:
    """Wall-clock stamps at chosen step counts, after the device has finished the work queued so far."""

    def __init__(self, device: torch.device, at: tuple[int, ...]) -> None:
        self.device, self.at, self.stamps = device, at, {0: time.perf_counter()}

    def __call__(self, step: int) -> None:
        if step in self.at:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.stamps[step] = time.perf_counter()

    def result(self, warmup: int, steps: int, batch: int) -> dict[str, float]:
        timed = self.stamps[warmup + steps] - self.stamps[warmup]
        return {"warmup_s": self.stamps[warmup] - self.stamps[0], "images_per_s": steps * batch / timed}


def device_name() -> str:
    """The GPU's name, or the CPU's model name and torch's thread count."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}, torch {torch.__version__})"
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU") if Path("/proc/cpuinfo").exists() else "unknown CPU"
    return f"{model}, {torch.get_num_threads()} threads (torch {torch.__version__})"


def plain_row(args: argparse.Namespace) -> dict[str, float]:
    """The pytorch/examples loop on this device: PIL loader, float32, NCHW, a loss read-back per iteration."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    g, d = (net.to(device) for net in dcgan_networks(100, args.ngf, args.ndf))
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader, bce = folder_loader(args.folder, 64, args.batch, workers=2), nn.BCELoss()
    total = args.warmup + args.steps
    clock, done = Clock(device, (args.warmup, total)), 0
    while done < total:
        for real, _ in loader:
            err_d, err_g = train_step(g, d, opt_g, opt_d, bce, real.to(device), 100)
            err_d.item(), err_g.item()
            done += 1
            clock(done)
            if done == total:
                break
    return clock.result(args.warmup, args.steps, args.batch)


def toolkit_row(args: argparse.Namespace, overrides: list[str]) -> dict[str, float]:
    """The toolkit's real Trainer and GANTask on the folder, with the row's settings."""
    from gan.config import load_config
    from gan.engine.setup import make_accelerator
    from gan.engine.trainer import Hook, Trainer, TrainerSettings
    from gan.generation.config import GANConfig
    from gan.generation.task import GANTask

    total = args.warmup + args.steps
    with tempfile.TemporaryDirectory() as out:
        cfg = load_config(GANConfig, str(REPO / "configs" / "image_folder.yaml"), [
            f"data.root={args.folder}", f"out_dir={out}", f"model.ngf={args.ngf}", f"model.ndf={args.ndf}",
            f"train.batch_size={args.batch}", f"train.steps={total}", "log.tracker=none",
            f"log.sample_every={total}", f"checkpoint.every={total}", *overrides,
        ])
        acc, logger = make_accelerator(cfg)
        task = GANTask(cfg, acc)
        clock = Clock(acc.device, (args.warmup, total))  # starts after set-up: only the steps are timed
        Trainer(TrainerSettings.of(cfg), task, acc, logger, [Hook(1, clock)]).fit()
    return clock.result(args.warmup, args.steps, args.batch)


def run_row(args: argparse.Namespace, row: str, batch: int) -> dict:
    """One row in a fresh process; its result, or the reason it has none."""
    if row in GPU_ONLY and not torch.cuda.is_available():
        return {"row": row, "batch": batch, "skipped": GPU_ONLY[row]}
    cmd = [sys.executable, __file__, "--worker", row, "--folder", args.folder, "--batches", str(batch),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--ngf", str(args.ngf), "--ndf", str(args.ndf)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    found = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not found:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        return {"row": row, "batch": batch, "failed": f"exit {done.returncode}: {last}"}
    return {"row": row, "batch": batch, **json.loads(found[-1][len(RESULT):])}


def table(results: list[dict]) -> str:
    """A markdown table: images/s, warm-up and the ratio to ``plain`` at the same batch."""
    plain = {r["batch"]: r["images_per_s"] for r in results if r["row"] == "plain" and "images_per_s" in r}
    lines = ["| row | batch | images/s | vs plain | warm-up (s) |", "|---|---|---|---|---|"]
    for r in results:
        if "images_per_s" not in r:
            lines.append(f"| {r['row']} | {r['batch']} | {r.get('skipped') or r.get('failed')} | | |")
            continue
        ratio = f"{r['images_per_s'] / plain[r['batch']]:.2f}x" if r["batch"] in plain else ""
        lines.append(f"| {r['row']} | {r['batch']} | {r['images_per_s']:.1f} | {ratio} | {r['warmup_s']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", required=True, help="an image folder (one sub-folder per class, as ImageFolder reads it)")
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, from: {', '.join(ROWS)}")
    p.add_argument("--batches", default="64,256", help="comma-separated batch sizes")
    p.add_argument("--steps", type=int, default=50, help="timed steps per row")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation happens here)")
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.add_argument("--worker", choices=list(ROWS), help=argparse.SUPPRESS)  # one row, in this process
    args = p.parse_args()
    rows, batches = args.rows.split(","), [int(b) for b in args.batches.split(",")]
    if unknown := [r for r in rows if r not in ROWS]:
        p.error(f"--rows: unknown {', '.join(unknown)}; expected some of {', '.join(ROWS)}")
    args.folder = str(Path(args.folder).resolve())
    if args.worker:
        args.batch = batches[0]
        overrides = ROWS[args.worker]
        result = plain_row(args) if overrides is None else toolkit_row(args, overrides)
        print(RESULT + json.dumps(result), flush=True)
        return
    print(f"device: {device_name()}; {args.warmup} warm-up + {args.steps} timed steps per row", flush=True)
    results = []
    for batch in batches:
        for row in rows:
            results.append(run_row(args, row, batch))
            print(json.dumps(results[-1]), flush=True)
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"device": device_name(), "rows": results}, indent=1))


if __name__ == "__main__":
    main()
