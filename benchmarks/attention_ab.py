"""Self-attention A/B on conditional MNIST: the same budget with and without ``model.attention``.

    python benchmarks/attention_ab.py --steps 2000
    python benchmarks/attention_ab.py --steps 2000 --attention 8 train.cpu_threads=1 --parallel

Runs benchmarks/cond_mnist.py twice (configs/mnist_cond.yaml, same steps, seed and overrides), once
plain and once with ``model.attention=[<--attention>]`` (a SAGAN block in G and D at that
resolution), and prints one table: class_accuracy and FID in the digit classifier's features (NOT
Inception FIDs) of each EMA export, training wall and CPU seconds, and steps/s (steps over the
training process's wall time, start-up included). ``--parallel`` trains both at the same time (give
each a core with ``train.cpu_threads=1``); their wall times then share the machine.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--attention", type=int, default=16, help="resolution of the attention block (8 or 16 at 32x32)")
    p.add_argument("--num-samples", type=int, default=5000)
    p.add_argument("--runs", default=str(REPO / "runs" / "bench_attention"), help="folder of the two runs")
    p.add_argument("--parallel", action="store_true", help="run both arms at the same time")
    p.add_argument("overrides", nargs="*", help="key=value overrides for both runs")
    return p.parse_args(argv)


def command(name: str, extra: list[str], args: argparse.Namespace) -> list[str]:
    run = Path(args.runs) / name
    return [sys.executable, str(REPO / "benchmarks" / "cond_mnist.py"), "--steps", str(args.steps), "--runs", str(run),
            "--num-samples", str(args.num_samples), "--no-per-class", "--json", str(run.with_suffix(".json")),
            *args.overrides, *extra]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    arms = {"plain": [], f"attention{args.attention}": [f"model.attention=[{args.attention}]"]}
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    cmds = {name: command(name, extra, args) for name, extra in arms.items()}
    if args.parallel:
        procs = [subprocess.Popen(cmd, cwd=REPO) for cmd in cmds.values()]
        if any(p.wait() != 0 for p in procs):
            raise SystemExit("an arm failed; see its output above")
    else:
        for cmd in cmds.values():
            subprocess.run(cmd, cwd=REPO, check=True)
    rows = {name: json.loads((Path(args.runs) / f"{name}.json").read_text()) for name in arms}
    keys = ["class_accuracy", "fid_digit_features", "train_wall_s", "train_cpu_s", "steps_per_s_wall"]
    print(f"\nSelf-attention A/B, conditional MNIST, {args.steps} steps (FID in digit-classifier features, not Inception):")
    print(f"{'arm':>14} " + " ".join(f"{k:>18}" for k in keys))
    for name, row in rows.items():
        print(f"{name:>14} " + " ".join(f"{row[k]:>18.4g}" if row[k] is not None else f"{'-':>18}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
