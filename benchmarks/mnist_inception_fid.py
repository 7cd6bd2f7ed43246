"""MNIST configs in standard Inception FID: train each under ``accelerate launch``, score with ``evaluate.py``.

    python benchmarks/mnist_inception_fid.py                                   # both configs, 5,000 vs 10,000
    python benchmarks/mnist_inception_fid.py --num-samples 10000 --json runs/bench_mnist_fid/figures.json
    python benchmarks/mnist_inception_fid.py --configs configs/dcgan_mnist.yaml --skip-train --raw   # rescore, EMA and raw

For each config (default ``configs/dcgan_mnist.yaml`` and ``configs/mnist_cond.yaml``):

1. ``accelerate launch --config_file accelerate.yaml -q train_gan.py --config <config>`` on
   ``../shared/data/mnist-test`` (``--data``: the 10,000 MNIST test images as ``<digit>/<i>.png``,
   read as an image folder at the configs' 32x32), with the config's steps and defaults, as a user runs it.
2. ``evaluate.py <run>/export --metrics fid --num-samples N``: the EMA generator's ``N`` images
   (labels uniform over the digits for the conditional config) against all 10,000 images, in the
   standard network (inception-2015-12-05: the ``fid`` extra's bundled copy, or torch-fidelity's own
   file when present). The real statistics are computed once and cached, so the first config's
   evaluation also times the 10,000-image real pass.

The protocol differs from Lucic et al. 2018 ("Are GANs Created Equal?", best NS-GAN on MNIST about
6.8) in two ways: the training images are the 10,000 test images (no training set here), so the FID is
against the training images themselves; and the images are 32x32, not 28x28. Prints each stage's wall and CPU time and one table; ``--json`` writes the figures.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]  # the toolkit, cond_mnist
from cond_mnist import DATA, timed  # noqa: E402  (the same MNIST folder, and its timed subprocess runner)
from gan.formats import list_checkpoints  # noqa: E402

CONFIGS = ["configs/dcgan_mnist.yaml", "configs/mnist_cond.yaml"]
LUCIC_NS_GAN_MNIST = 6.8  # Lucic et al. 2018, best NS-GAN FID on MNIST (10k samples, 28x28, 60k training images)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=CONFIGS, help="the configs to train and score")
    p.add_argument("--data", default=str(DATA), help="the MNIST image folder (one subfolder per digit)")
    p.add_argument("--runs", default=str(REPO / "runs" / "bench_mnist_fid"), help="run directories go here (overwritten)")
    p.add_argument("--num-samples", type=int, default=5000, help="generated images per FID")
    p.add_argument("--steps", type=int, default=0, help="train.steps (default: each config's)")
    p.add_argument("--skip-train", action="store_true", help="score the runs already in --runs")
    p.add_argument("--raw", action="store_true", help="also score the raw (non-EMA) generator of the last checkpoint")
    p.add_argument("--json", default="", help="also write the figures to this JSON file")
    p.add_argument("overrides", nargs="*", help="key=value overrides for training")
    return p.parse_args(argv)


def raw_generator_folder(run: Path) -> Path:
    """The last checkpoint's raw generator as a folder ``evaluate.py`` reads: its ``generator.json`` beside
    the training weights (Accelerate's ``model.safetensors``, the first prepared model = G) as ``generator.safetensors``."""
    last = list_checkpoints(run / "checkpoints")[-1]  # the newest complete checkpoint
    folder = run / "raw_generator"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    shutil.copy(last / "generator.json", folder / "generator.json")
    shutil.copy(last / "model.safetensors", folder / "generator.safetensors")
    return folder


def score(label: str, folder: Path, result: Path, args: argparse.Namespace) -> dict:
    """``evaluate.py --metrics fid`` on ``folder``: the FID, its protocol and the call's wall/CPU time."""
    wall, cpu = timed(label, [sys.executable, "evaluate.py", str(folder), "--metrics", "fid", "--num-samples", str(args.num_samples),
                              "--out", str(result), f"data.root={args.data}", "data.limit=0", "eval.num_real=0"])
    values = json.loads(result.read_text())
    protocol = values["protocol"]
    return {"step": values.get("step"), "fid": values["metrics"]["fid"], "n_fake": protocol["n_fake"], "n_real": protocol["n_real"],
            "feature_extractor": protocol["feature_extractor"], "eval_wall_s": wall, "eval_cpu_s": cpu}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(args.data).is_dir():
        print(f"skipped: no MNIST image folder at {args.data}")
        return 0
    rows = []
    for config in args.configs:
        run = Path(args.runs).resolve() / Path(config).stem
        row: dict = {"config": config}
        if not args.skip_train:
            steps = [f"train.steps={args.steps}"] if args.steps else []
            row["train_wall_s"], row["train_cpu_s"] = timed("train", [
                "accelerate", "launch", "--config_file", "accelerate.yaml", "-q", "train_gan.py", "--config", config,
                "data.name=image_folder", f"data.root={args.data}", "data.download=false", f"out_dir={run}",
                "overwrite=true", "log.tracker=none", "eval.every=0", *steps, *args.overrides])
        row.update(score("evaluate", run / "export", run / "inception_fid.json", args))
        if args.raw:
            raw = score("evaluate raw", raw_generator_folder(run), run / "inception_fid_raw.json", args)
            row.update(raw_fid=raw["fid"], raw_step=raw["step"])
        rows.append(row)
    print(f"\nInception FID on MNIST (trained on and compared with the 10,000 test images, 32x32); "
          f"Lucic et al. 2018, best NS-GAN: about {LUCIC_NS_GAN_MNIST}")
    print("| config | steps | Inception FID | n fake / n real | train wall (s) | evaluate wall (s) |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['step']} | {r['fid']:.2f} | {r['n_fake']} / {r['n_real']} | "
              f"{r.get('train_wall_s', float('nan')):.0f} | {r['eval_wall_s']:.0f} |")
    for r in rows:
        if "raw_fid" in r:
            print(f"{r['config']}: raw generator (no EMA) of step {r['raw_step']}: FID {r['raw_fid']:.2f}; EMA {r['fid']:.2f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"rows": rows, "lucic_ns_gan_mnist": LUCIC_NS_GAN_MNIST}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
