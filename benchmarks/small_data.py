"""Small-data A/B: does DiffAugment help a DCGAN trained on 1,000 MNIST digits?

Trains configs/dcgan_mnist.yaml twice on the same seeded ``data.limit`` subset of
../shared/data/mnist-test (image folder, 32x32 grayscale), with the same steps and seed, once plain
and once with ``augment.policy=color,translation,cutout``, and scores the EMA generator every
``--eval-every`` steps by FID in the features of a TorchScript digit classifier (``--extractor``,
e.g. the file benchmarks/digit_classifier.py writes). FID compares with all 10,000 images of the
folder (the evaluation ignores data.limit). Prints both FID curves as a table and plots them into
one PNG.

    python benchmarks/small_data.py --extractor digits.pt --steps 4000 --eval-every 500 --seed 0 --out small_data.png
    python benchmarks/small_data.py --extractor digits.pt --steps 20 --eval-every 10 --num-samples 100 train.batch_size=16

Extra ``key=value`` arguments go to both runs. The runs go one after another (``--parallel``: at the
same time, each on its share of the cores, e.g. with ``train.cpu_threads=1``); each prints its wall
time and CPU seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "mnist-test"
POLICY = "color,translation,cutout"
VARIANTS = {"plain": [], "diffaugment": [f"augment.policy={POLICY}"]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--extractor", required=True, help="TorchScript feature extractor for FID (eval.feature_extractor_path)")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0, help="train.seed and data.limit_seed of both runs")
    p.add_argument("--limit", type=int, default=1000, help="training images (data.limit)")
    p.add_argument("--num-samples", type=int, default=5000, help="generated images per FID (eval.num_samples)")
    p.add_argument("--data", default=str(DATA), help="the MNIST image folder")
    p.add_argument("--runs", default=str(REPO / "runs" / "bench_small_data"), help="folder of the two run directories")
    p.add_argument("--out", default="", help="PNG of both FID curves (default <runs>/fid_curves.png)")
    p.add_argument("--parallel", action="store_true", help="train both runs at the same time")
    p.add_argument("--plot-only", action="store_true", help="no training: table and plot of the runs' curves so far")
    p.add_argument("overrides", nargs="*", help="key=value overrides for both runs")
    return p.parse_args(argv)


def run_overrides(args: argparse.Namespace, out_dir: Path) -> list[str]:
    return [
        "data.name=image_folder", f"data.root={args.data}", "data.download=false", "data.resolution=32", "data.channels=1",
        f"data.limit={args.limit}", f"data.limit_seed={args.seed}", f"train.seed={args.seed}", f"train.steps={args.steps}",
        f"eval.every={args.eval_every}", "eval.metrics=fid", "eval.feature_extractor=torchscript",
        f"eval.feature_extractor_path={Path(args.extractor).resolve()}", "eval.trust_torchscript=true", f"eval.num_samples={args.num_samples}",
        f"checkpoint.every={args.steps}", "log.tracker=none", f"out_dir={out_dir}", "overwrite=true",
    ]


def start(name: str, args: argparse.Namespace) -> subprocess.Popen:
    """Start the training run of one variant."""
    cmd = [sys.executable, str(REPO / "train_gan.py"), "--config", str(REPO / "configs" / "dcgan_mnist.yaml"),
           *run_overrides(args, Path(args.runs) / name), *VARIANTS[name], *args.overrides]
    print(f"[{name}] " + " ".join(cmd[1:]), flush=True)
    return subprocess.Popen(cmd, cwd=REPO)


def finish(name: str, proc: subprocess.Popen, started: float) -> None:
    """Wait for one run; print its wall time and CPU seconds (user + system, all its threads)."""
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"[{name}] training failed (exit status {os.waitstatus_to_exitcode(status)})")
    proc.returncode = 0
    print(f"[{name}] wall {time.perf_counter() - started:.1f} s, CPU {usage.ru_utime + usage.ru_stime:.1f} s", flush=True)


def train_all(args: argparse.Namespace) -> dict[str, Path]:
    """Train every variant, one after another or (``--parallel``) at the same time."""
    if args.parallel:
        started = time.perf_counter()
        procs = {name: start(name, args) for name in VARIANTS}
        for name, proc in procs.items():
            finish(name, proc, started)
    else:
        for name in VARIANTS:
            started = time.perf_counter()
            finish(name, start(name, args), started)
    return {name: Path(args.runs) / name for name in VARIANTS}


def fid_curve(run: Path) -> dict[int, float]:
    """``step -> FID`` from a run's eval/metrics.jsonl (the newest record of a step wins)."""
    lines = (run / "eval" / "metrics.jsonl").read_text().splitlines()
    return {int(r["step"]): float(r["fid"]) for r in map(json.loads, lines)}


def table(curves: dict[str, dict[int, float]]) -> str:
    steps = sorted(set().union(*curves.values()))
    rows = [f"{'step':>8} " + " ".join(f"{name:>12}" for name in curves)]
    rows += [f"{s:>8} " + " ".join(f"{curves[n].get(s, float('nan')):>12.3f}" for n in curves) for s in steps]
    return "\n".join(rows)


def plot(curves: dict[str, dict[int, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, curve in curves.items():
        steps = sorted(curve)
        ax.plot(steps, [curve[s] for s in steps], marker="o", label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("FID (digit-classifier features)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(args.data).is_dir():
        print(f"skipped: no MNIST image folder at {args.data}")
        return 0
    runs = {name: Path(args.runs) / name for name in VARIANTS} if args.plot_only else train_all(args)
    curves = {name: fid_curve(run) for name, run in runs.items()}
    print(f"\nFID vs the {args.data} images, {args.limit} training images, seed {args.seed}, {args.num_samples} samples per FID:")
    print(table(curves))
    out = Path(args.out) if args.out else Path(args.runs) / "fid_curves.png"
    plot(curves, out, f"DCGAN on {args.limit} MNIST digits: plain vs DiffAugment")
    print(f"plot: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
