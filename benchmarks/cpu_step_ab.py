"""A/B of one CPU speed setting on the real GAN step: alternating pairs of fresh processes.

    python benchmarks/cpu_step_ab.py --folder /tmp/mnist2560 --ab memory --precision no --pairs 6
    python benchmarks/cpu_step_ab.py --folder /tmp/mnist2560 --ab channels_last --precision bf16 --pairs 5
    python benchmarks/cpu_step_ab.py --config configs/quickstart.yaml --ab channels_last --precision bf16 --steps 100

Each run builds `GANTask` from ``--config`` (default ``configs/image_folder.yaml``: DCGAN-64, batch 64,
on ``--folder``), takes ``--warmup`` steps, then times ``--steps`` steps and prints seconds per step and
page faults per step.
``--ab memory`` compares glibc's malloc defaults ("without") with the kept freed memory of
``gan/process/cpu_memory.py`` ("with"); ``--ab channels_last`` compares ``train.channels_last=false``
with ``true``. Runs alternate without/with so that drifts in the machine's speed hit both sides;
the figures are printed per pair, since one pair is within this kind of machine's noise.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def one_run(args: argparse.Namespace) -> None:
    """Child: time the step with the setting ``args.side`` (``without`` or ``with``); print one line."""
    import gan.engine.setup as setup
    from gan.config import load_config
    from gan.engine.trainer import Trainer, TrainerSettings
    from gan.generation.config import GANConfig
    from gan.generation.task import GANTask

    overrides = [*([f"data.root={args.folder}"] if args.folder else []), f"out_dir={tempfile.mkdtemp()}",
                 "log.tracker=none", f"train.mixed_precision={args.precision}", "train.channels_last=false"]
    if args.ab == "memory" and args.side == "without":
        setup.keep_freed_memory = lambda: False  # glibc's defaults for this process
    if args.ab == "channels_last" and args.side == "with":
        overrides[-1] = "train.channels_last=true"
    cfg = load_config(GANConfig, str(REPO / args.config), overrides)
    acc, logger = setup.make_accelerator(cfg)
    task = GANTask(cfg, acc)
    batches = Trainer(TrainerSettings.of(cfg), task, acc, logger).batches
    for step in range(args.warmup):
        task.train_step(batches, step)
    faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    for step in range(args.steps):
        task.train_step(batches, step)
    seconds = (time.perf_counter() - start) / args.steps
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / args.steps
    print(f"RESULT {seconds:.4f} {faults:.0f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/image_folder.yaml", help="the config file of every run")
    p.add_argument("--folder", help="data.root (configs/image_folder.yaml needs one: train_throughput.py --make-folder DIR)")
    p.add_argument("--ab", choices=["memory", "channels_last"], required=True)
    p.add_argument("--precision", choices=["no", "bf16"], default="no", help="train.mixed_precision of every run")
    p.add_argument("--pairs", type=int, default=4)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--side", choices=["without", "with"], help=argparse.SUPPRESS)  # a child run
    args = p.parse_args()
    if args.side:
        return one_run(args)
    results: dict[str, list[float]] = {"without": [], "with": []}
    for pair in range(args.pairs):
        line = []
        for side in ("without", "with"):
            cmd = [sys.executable, __file__, *sys.argv[1:], "--side", side]
            res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"run failed: {' '.join(cmd)}\n{res.stderr[-3000:]}")
            seconds, faults = res.stdout.split("RESULT ")[1].split()
            results[side].append(float(seconds))
            line.append(f"{side} {float(seconds):.3f} s/step ({faults} faults/step)")
        print(f"pair {pair + 1}: " + ", ".join(line), flush=True)
    a, b = statistics.mean(results["without"]), statistics.mean(results["with"])
    faster = sum(w < o for o, w in zip(results["without"], results["with"]))
    print(f"{args.ab}, precision {args.precision}: mean without {a:.3f}, with {b:.3f} s/step; "
          f"without/with {a / b:.2f}x; 'with' faster in {faster} of {args.pairs} pairs")


if __name__ == "__main__":
    main()
