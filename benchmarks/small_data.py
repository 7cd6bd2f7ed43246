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

Extra ``key=value`` arguments go to both runs. The runs go one after another; each prints its wall time.
"""
from __future__ import annotations

import argparse
import json
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
    p.add_argument("overrides", nargs="*", help="key=value overrides for both runs")
    return p.parse_args(argv)


def run_overrides(args: argparse.Namespace, out_dir: Path) -> list[str]:
    return [
        "data.name=image_folder", f"data.root={args.data}", "data.download=false", "data.resolution=32", "data.channels=1",
        f"data.limit={args.limit}", f"data.limit_seed={args.seed}", f"train.seed={args.seed}", f"train.steps={args.steps}",
        f"eval.every={args.eval_every}", "eval.metrics=fid", "eval.feature_extractor=torchscript",
        f"eval.feature_extractor_path={Path(args.extractor).resolve()}", f"eval.num_samples={args.num_samples}",
        f"checkpoint.every={args.steps}", "log.tracker=none", f"out_dir={out_dir}", "overwrite=true",
    ]


def train(name: str, args: argparse.Namespace) -> Path:
    out_dir = Path(args.runs) / name
    cmd = [sys.executable, str(REPO / "train_gan.py"), "--config", str(REPO / "configs" / "dcgan_mnist.yaml"),
           *run_overrides(args, out_dir), *VARIANTS[name], *args.overrides]
    print(f"[{name}] " + " ".join(cmd[1:]), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True)
    print(f"[{name}] {time.perf_counter() - start:.1f} s", flush=True)
    return out_dir


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
    curves = {name: fid_curve(train(name, args)) for name in VARIANTS}
    print(f"\nFID vs the {args.data} images, {args.limit} training images, seed {args.seed}, {args.num_samples} samples per FID:")
    print(table(curves))
    out = Path(args.out) if args.out else Path(args.runs) / "fid_curves.png"
    plot(curves, out, f"DCGAN on {args.limit} MNIST digits: plain vs DiffAugment")
    print(f"plot: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
