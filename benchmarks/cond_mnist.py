"""Conditional MNIST benchmark: train configs/mnist_cond.yaml, score class_accuracy and digit-FID, draw the 10x8 grid.

    python benchmarks/cond_mnist.py --grid docs/images/cond_mnist_grid.png
    python benchmarks/cond_mnist.py --steps 1500 --runs runs/bench_cond_try model.g_cond=embed optim.g_lr=0.0004
    python benchmarks/cond_mnist.py --steps 20 --num-samples 100 --no-per-class train.batch_size=16   # smoke test

1. ``train_gan.py --config configs/mnist_cond.yaml`` (``--steps``; extra ``key=value`` overrides go to
   training), on ``../shared/data/mnist-test`` (``--data``; the 10,000 MNIST test images as ``<digit>/<i>.png``).
2. ``evaluate.py`` on the export (EMA generator, labels uniform over the 10 digits): ``class_accuracy``
   by the TorchScript digit classifier ``--classifier`` (benchmarks/digit_classifier.py writes it), FID
   in the same classifier's 128-d features vs all 10,000 images and, unless ``--no-per-class``, the
   per-digit FIDs and their mean ``intra_fid``. These are NOT Inception FIDs: comparable only with
   each other, for the same classifier file.
3. ``sample.py --grid`` with ``--labels 0-9 --per-label 8``: row i = digit i, column j = seed j.

Prints steps, wall and CPU seconds (this process's children, so user + system time of every core they
used) of each stage, training steps/s, and the metrics. ``--json`` also writes them to a file.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "mnist-test"
CLASSIFIER = REPO / "runs" / "digit_classifier" / "digits32.pt"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=0, help="train.steps (default: the config's)")
    p.add_argument("--config", default=str(REPO / "configs" / "mnist_cond.yaml"))
    p.add_argument("--classifier", default=str(CLASSIFIER), help="TorchScript digit classifier: (features, logits)")
    p.add_argument("--data", default=str(DATA), help="the MNIST image folder (one subfolder per digit)")
    p.add_argument("--runs", default=str(REPO / "runs" / "bench_cond_mnist"), help="run directory (overwritten)")
    p.add_argument("--num-samples", type=int, default=5000, help="generated images for FID and class_accuracy")
    p.add_argument("--no-per-class", action="store_true", help="skip the per-digit FIDs")
    p.add_argument("--grid", default="", help="PNG of the 10x8 grid (default <runs>/grid.png)")
    p.add_argument("--json", default="", help="also write the figures to this JSON file")
    p.add_argument("overrides", nargs="*", help="key=value overrides for training")
    return p.parse_args(argv)


def children_cpu() -> float:
    """User + system CPU seconds of every finished child process so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(label: str, cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd`` in the repository (failing loudly); its wall and CPU seconds."""
    print(f"[{label}] " + " ".join(str(c) for c in cmd[1:]), flush=True)
    wall, cpu = time.perf_counter(), children_cpu()
    subprocess.run(cmd, cwd=REPO, check=True)
    wall, cpu = time.perf_counter() - wall, children_cpu() - cpu
    print(f"[{label}] wall {wall:.1f} s, CPU {cpu:.1f} s", flush=True)
    return wall, cpu


def eval_overrides(args: argparse.Namespace) -> list[str]:
    """Digit-classifier FID + class_accuracy (+ per-digit FID) against the whole folder."""
    clf = str(Path(args.classifier).resolve())
    return [f"data.root={args.data}", "data.limit=0", "eval.feature_extractor=torchscript", f"eval.feature_extractor_path={clf}",
            f"eval.classifier_path={clf}", f"eval.per_class={str(not args.no_per_class).lower()}",
            "eval.trust_torchscript=true"]  # the TorchScript file digit_classifier.py wrote


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(args.data).is_dir():
        print(f"skipped: no MNIST image folder at {args.data}")
        return 0
    run = Path(args.runs).resolve()
    steps = [f"train.steps={args.steps}"] if args.steps else []
    train_cmd = [sys.executable, str(REPO / "train_gan.py"), "--config", args.config, f"data.root={args.data}",
                 f"out_dir={run}", "overwrite=true", "log.tracker=none", *steps, *args.overrides]
    train_wall, train_cpu = timed("train", train_cmd)
    export = run / "export"
    result = run / "bench_evaluation.json"
    eval_wall, eval_cpu = timed("evaluate", [sys.executable, str(REPO / "evaluate.py"), str(export), "--metrics", "fid,class_accuracy",
                                             "--num-samples", str(args.num_samples), "--out", str(result), *eval_overrides(args)])
    grid = Path(args.grid).resolve() if args.grid else run / "grid.png"
    grid.parent.mkdir(parents=True, exist_ok=True)
    timed("grid", [sys.executable, str(REPO / "sample.py"), str(export), "--grid", str(grid), "--labels", "0-9", "--per-label", "8"])
    values = json.loads(result.read_text())
    metrics = values["metrics"]
    done = int(values.get("step") or args.steps or 0)
    figures = {"steps": done, "train_wall_s": round(train_wall, 1), "train_cpu_s": round(train_cpu, 1),
               "steps_per_s_wall": round(done / train_wall, 3) if done else None,
               "eval_wall_s": round(eval_wall, 1), "eval_cpu_s": round(eval_cpu, 1),
               "class_accuracy": metrics.get("class_accuracy"), "fid_digit_features": metrics.get("fid"),
               "intra_fid_digit_features": metrics.get("intra_fid"), "overrides": args.overrides, "grid": str(grid)}
    print("\nConditional MNIST (FIDs in the digit classifier's features, NOT Inception FIDs):")
    for key, value in figures.items():
        print(f"  {key:26s} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
