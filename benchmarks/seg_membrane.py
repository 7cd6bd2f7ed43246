"""Membrane benchmark: does a decoder transferred from a GAN help segmentation with few labels?

Data: ../shared/data/membrane (ISBI 2012, 30 images 512x512 + 0/255 masks), images 00-23 train,
24-29 validation, everything resized to 256x256 (configs/seg_membrane.yaml).

    python benchmarks/seg_membrane.py prepare    # 64x64 GAN crops of the 24 training images
    python benchmarks/seg_membrane.py gan        # DCGAN on the crops (configs/dcgan_membrane.yaml; key=value overrides)
    python benchmarks/seg_membrane.py seg        # 4 runs: {random, gan} decoder x {25%, 100%} labels
    python benchmarks/seg_membrane.py seg random_100 gan_100 train.steps=100   # some runs, overrides
    python benchmarks/seg_membrane.py report     # the table (validation mIoU of the final step)
    python benchmarks/seg_membrane.py all

Runs go one after another (2 CPU cores); each prints its wall time. The budget is the fixed step
count of configs/seg_membrane.yaml (chosen to stay under 15 minutes per run on 2 shared cores).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "membrane"
BENCH = REPO / "runs" / "bench_membrane"
CROPS = BENCH / "gan_crops"
GAN_RUN = REPO / "runs" / "dcgan_membrane"
TRAIN_STEMS = [f"{i:02d}" for i in range(24)]
WORK_SIZE = 256  # the segmentation resolution; GAN crops are cut at this pixel scale
CROP, CROP_STRIDE = 64, 32
VARIANTS = {  # name -> overrides, in the order they run
    "random_100": ["data.label_fraction=1.0"],
    "gan_100": ["data.label_fraction=1.0", f"init_from={GAN_RUN / 'export'}"],
    "random_25": ["data.label_fraction=0.25"],
    "gan_25": ["data.label_fraction=0.25", f"init_from={GAN_RUN / 'export'}"],
}


def prepare() -> None:
    """Cut overlapping 64x64 crops (+ mirrored copies) of the 256-px training images for the GAN."""
    from PIL import Image, ImageOps

    if not DATA.is_dir():
        sys.exit(f"no membrane data at {DATA}")
    CROPS.mkdir(parents=True, exist_ok=True)
    count = 0
    for stem in TRAIN_STEMS:  # validation images stay unseen, even without labels
        with Image.open(DATA / "images" / f"{stem}.png") as im:
            small = im.convert("L").resize((WORK_SIZE, WORK_SIZE), Image.BILINEAR)
        for top in range(0, WORK_SIZE - CROP + 1, CROP_STRIDE):
            for left in range(0, WORK_SIZE - CROP + 1, CROP_STRIDE):
                crop = small.crop((left, top, left + CROP, top + CROP))
                crop.save(CROPS / f"{stem}_{top:03d}_{left:03d}.png")
                ImageOps.mirror(crop).save(CROPS / f"{stem}_{top:03d}_{left:03d}_m.png")
                count += 2
    print(f"wrote {count} crops to {CROPS}")


def timed(cmd: list[str], log: Path) -> float:
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    with open(log, "w") as f:
        code = subprocess.call(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    print(f"  exit {code}, {seconds / 60:.1f} min, log {log}", flush=True)
    if code != 0:
        sys.exit(f"command failed; see {log}")
    return seconds


def gan(overrides: list[str]) -> None:
    """Train the membrane GAN; ``key=value`` items are overrides (e.g. train.steps=1000)."""
    BENCH.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "train_gan.py", "--config", "configs/dcgan_membrane.yaml", f"data.root={CROPS}", f"out_dir={GAN_RUN}"]
    timed(cmd + overrides, BENCH / "gan.log")


def seg(args: list[str]) -> None:
    """Run the variants named in ``args`` (all by default); ``key=value`` items are overrides for each."""
    extra = [a for a in args if "=" in a]
    names = [a for a in args if "=" not in a] or list(VARIANTS)
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        sys.exit(f"unknown variant {unknown[0]}; choose from {', '.join(VARIANTS)}")
    BENCH.mkdir(parents=True, exist_ok=True)
    for name in names:
        overrides = VARIANTS[name]
        out = BENCH / f"seg_{name}"
        shutil.rmtree(out, ignore_errors=True)  # a fresh run: logs are appended to otherwise
        cmd = [sys.executable, "train_seg.py", "--config", "configs/seg_membrane.yaml", f"data.root={DATA}", f"out_dir={out}"]
        seconds = timed(cmd + overrides + extra, BENCH / f"seg_{name}.log")
        (out / "wall_seconds.txt").write_text(f"{seconds:.0f}\n")


def report() -> None:
    print("| decoder init | labels | val mIoU (final) | best val mIoU | IoU membrane / cell | pixel acc | steps | wall min |")
    print("|---|---|---|---|---|---|---|---|")
    for name in VARIANTS:
        out = BENCH / f"seg_{name}"
        evals = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()] if (out / "eval.jsonl").is_file() else []
        if not evals:
            print(f"| {name} | (not run) |")
            continue
        last, best = evals[-1], max(e["miou"] for e in evals)
        wall = float((out / "wall_seconds.txt").read_text()) / 60 if (out / "wall_seconds.txt").is_file() else float("nan")
        init, frac = name.split("_")
        ious = " / ".join(f"{v:.3f}" for v in last["iou"])
        print(f"| {init} | {frac}% | {last['miou']:.3f} | {best:.3f} | {ious} | {last['pixel_acc']:.3f} | {last['step']} | {wall:.1f} |")


def main(argv: list[str]) -> None:
    stage, extra = (argv[0] if argv else "all"), argv[1:]
    if stage in ("prepare", "all"):
        prepare()
    if stage in ("gan", "all"):
        gan(extra if stage == "gan" else [])
    if stage in ("seg", "all"):
        seg(extra)
    if stage in ("report", "all"):
        report()


if __name__ == "__main__":
    main(sys.argv[1:])
