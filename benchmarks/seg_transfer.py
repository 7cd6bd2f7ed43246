"""Does a GAN-transferred decoder (or encoder) help membrane segmentation? Several seeds, mean +- std.

Arms (each with the same seeds, so seed i of every arm trains on the same labelled subset, in the
same order, from the same initialisation of every layer that is not transferred):

    random           no transfer
    decoder          init_from = the membrane GAN's export (generator decoder stages)
    decoder+encoder  the same, plus the discriminator's blocks as the encoder (transfer.encoder=true; conv encoder only)
    scratch          no transfer and the --encoder from random weights (the pretrained-encoder A/B; not for conv)

    python benchmarks/seg_transfer.py                       # defaults: 3 seeds x 2 fractions x 3 arms
    python benchmarks/seg_transfer.py --steps 20 --seeds 0 --fractions 1.0 --eval-every 10   # a smoke run
    python benchmarks/seg_transfer.py --gan runs/my_membrane_gan   # reuse a GAN run (else it is trained once and cached)
    python benchmarks/seg_transfer.py --encoder efficientnet_lite0 --arms random,decoder,scratch   # pretrained encoder

With ``--encoder NAME`` every arm uses that encoder with ``--encoder-weights`` (imagenet) except
``scratch``; ``--set key=value ...`` adds config overrides to every arm (e.g. optim.encoder_lr_mult=0.1).

Data: ../shared/data/membrane with the split and settings of configs/seg_membrane.yaml (the GAN
crops and the GAN training come from benchmarks/seg_membrane.py; runs/dcgan_membrane is reused when
its export has ``--gan-steps`` steps, else the GAN is trained once under ``--out``). Every
segmentation run is a fresh ``train_seg.py`` process; a finished run with the same budget and GAN
is reused, so an interrupted benchmark continues where it stopped. Prints the table
(mean +- sample std over seeds of the best and final validation mIoU, and the paired difference
arm - random) after every seed, and writes ``curves.png`` (mean curve with a +-1 std band).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seg_membrane  # noqa: E402  (a sibling script, not a package)

REPO = seg_membrane.REPO
BASELINE = "random"
ARMS = {"random": [], "decoder": ["transfer.encoder=false"], "decoder+encoder": ["transfer.encoder=true"], "scratch": ["model.encoder_weights=none"]}
GAN_ARMS = ("decoder", "decoder+encoder")  # the arms that start from the GAN (init_from)
CONV_ONLY, PRETRAINED_ONLY = ("decoder+encoder",), ("scratch",)
DEFAULT_ARMS = {"conv": ("random", "decoder", "decoder+encoder"), "other": ("random", "decoder", "scratch")}

Curve = list[tuple[int, float]]  # (step, validation mIoU) in step order


@dataclass
class Row:
    """One line of the table: an arm at a label fraction over ``n`` seeds (diffs: paired with random)."""

    arm: str
    fraction: float
    n: int
    best: tuple[float, float]
    final: tuple[float, float]
    diff_best: tuple[float, float] | None = None
    diff_final: tuple[float, float] | None = None


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1); the std of a single value is undefined (nan)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


def best_final(curve: Curve) -> tuple[float, float]:
    """The best mIoU of a run's evaluations and the one at its last step."""
    return max(m for _, m in curve), curve[-1][1]


def summarize(curves: dict[str, dict[float, dict[int, Curve]]], baseline: str = BASELINE) -> list[Row]:
    """``curves[arm][fraction][seed]`` -> table rows; differences use the seeds both arms have."""
    rows = []
    fractions = list(dict.fromkeys(f for by_fraction in curves.values() for f in by_fraction))
    for fraction in fractions:  # grouped by label fraction, arms in their given order
        for arm, by_fraction in curves.items():
            by_seed = by_fraction.get(fraction)
            if not by_seed:
                continue
            scores = {seed: best_final(c) for seed, c in by_seed.items()}
            row = Row(arm, fraction, len(scores), mean_std([b for b, _ in scores.values()]), mean_std([f for _, f in scores.values()]))
            base = {seed: best_final(c) for seed, c in curves.get(baseline, {}).get(fraction, {}).items()}
            paired = sorted(set(scores) & set(base))
            if arm != baseline and paired:
                row.diff_best = mean_std([scores[s][0] - base[s][0] for s in paired])
                row.diff_final = mean_std([scores[s][1] - base[s][1] for s in paired])
            rows.append(row)
    return rows


def _pm(value: tuple[float, float] | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    mean = round(value[0], 3) + 0.0  # + 0.0 turns a rounded -0.0 into 0.0
    return f"{mean:{'+' if signed else ''}.3f} +- {value[1]:.3f}"


def format_table(rows: list[Row]) -> str:
    """A markdown table of :func:`summarize`'s rows."""
    lines = [
        "| arm | labels | seeds | best val mIoU | final val mIoU | best - random | final - random |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.arm} | {r.fraction:.0%} | {r.n} | {_pm(r.best)} | {_pm(r.final)} | {_pm(r.diff_best, True)} | {_pm(r.diff_final, True)} |")
    return "\n".join(lines)


def mean_curve(by_seed: dict[int, Curve]) -> tuple[list[int], list[float], list[float]]:
    """Steps evaluated by every seed, with the mean and std (0 for one seed) of mIoU there."""
    per_seed = [dict(c) for c in by_seed.values()]
    steps = sorted(set.intersection(*(set(c) for c in per_seed)))
    stats = [mean_std([c[s] for c in per_seed]) for s in steps]
    return steps, [m for m, _ in stats], [0.0 if math.isnan(sd) else sd for _, sd in stats]


def plot_curves(curves: dict[str, dict[float, dict[int, Curve]]], path: Path) -> None:
    """One panel per label fraction: each arm's mean validation mIoU with a +-1 std band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fractions = sorted({f for by_fraction in curves.values() for f, s in by_fraction.items() if s}, reverse=True)
    fig, axes = plt.subplots(1, len(fractions), figsize=(5 * len(fractions), 3.8), squeeze=False)
    for ax, fraction in zip(axes[0], fractions):
        for arm, by_fraction in curves.items():
            if by_fraction.get(fraction):
                steps, mean, std = mean_curve(by_fraction[fraction])
                ax.plot(steps, mean, marker="o", ms=3, label=f"{arm} (n={len(by_fraction[fraction])})")
                ax.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.2)
        ax.set(title=f"{fraction:.0%} of the labels", xlabel="step", ylabel="validation mIoU")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def read_curve(run: Path) -> Curve:
    """(step, mIoU) of a run's ``eval.jsonl`` (empty when it has none)."""
    file = run / "eval.jsonl"
    if not file.is_file():
        return []
    return [(e["step"], e["miou"]) for e in map(json.loads, file.read_text().splitlines())]


def gan_steps_of(run: Path) -> int | None:
    """Training steps of a GAN run's export (None when it has no finished export)."""
    meta = run / "export" / "generator.json"
    return json.loads(meta.read_text()).get("step") if meta.is_file() else None


def gan_export(args: argparse.Namespace) -> Path:
    """The GAN run to transfer from: ``--gan``, else a cached membrane GAN of ``--gan-steps`` (trained if absent).

    runs/dcgan_membrane (benchmarks/seg_membrane.py's) is reused when it has that many steps.
    """
    if args.gan:
        return Path(args.gan)
    own = Path(args.out) / f"gan_steps{args.gan_steps}"
    for run in (seg_membrane.GAN_RUN, own):
        if gan_steps_of(run) == args.gan_steps:
            return run
    print(f"no cached membrane GAN of {args.gan_steps} steps: training {own}", flush=True)
    shutil.rmtree(own, ignore_errors=True)  # a half-finished run would be refused as a fresh one
    if not seg_membrane.CROPS.is_dir():
        seg_membrane.prepare()
    threads = [o for o in args.set if o.startswith("train.cpu_threads=")]  # the GAN runs on the same threads as the arms
    seg_membrane.gan([f"out_dir={own}", f"train.steps={args.gan_steps}", f"checkpoint.every={args.gan_steps}"] + threads)
    return own


def results_dir(args: argparse.Namespace, gan: Path) -> Path:
    """Where the runs of one budget and one GAN go (the folder name holds both)."""
    name = gan.parent.name if gan.name == "export" else gan.name  # runs/x/export -> x
    encoder = "" if args.encoder == "conv" else f"_{args.encoder}-{Path(args.encoder_weights).name}"
    overrides = "_set-" + hashlib.sha1("\n".join(args.set).encode()).hexdigest()[:8] if args.set else ""  # stable across processes
    return Path(args.out) / f"seg_steps{args.steps}_{name}{encoder}{overrides}"


def run_arm(args: argparse.Namespace, gan: Path, arm: str, fraction: float, seed: int) -> Curve:
    """One segmentation run (or its cached result when it finished with this budget)."""
    out = results_dir(args, gan) / f"{arm}_labels{fraction:g}_seed{seed}"
    curve = read_curve(out)
    if curve and curve[-1][0] == args.steps:
        return curve
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "train_seg.py", "--config", "configs/seg_membrane.yaml", f"data.root={seg_membrane.DATA}",
        f"out_dir={out}", f"train.seed={seed}", f"data.label_fraction={fraction}", f"train.steps={args.steps}",
        f"eval.every={args.eval_every}", f"checkpoint.every={args.steps}", "eval.overlay_images=0",
    ] + ([f"model.encoder={args.encoder}", f"model.encoder_weights={args.encoder_weights}"] if args.encoder != "conv" else []) + args.set
    cmd += ([f"init_from={gan}"] if arm in GAN_ARMS else []) + ARMS[arm]
    seg_membrane.timed(cmd, out.parent / f"{out.name}.log")
    return read_curve(out)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=120, help="segmentation steps per run (batch 4)")
    p.add_argument("--eval-every", type=int, default=20, help="steps between validation evaluations")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated train.seed values (also pick the label subset)")
    p.add_argument("--fractions", default="1.0,0.25", help="label fractions of the 24 training images (batch 4 needs >= 4 images)")
    p.add_argument("--arms", default="", help="comma-separated, among " + ", ".join(ARMS) + " (default: random, decoder and "
                   "decoder+encoder for the conv encoder, else random, decoder and scratch)")
    p.add_argument("--encoder", default="conv", help="model.encoder of every arm (e.g. efficientnet_lite0)")
    p.add_argument("--encoder-weights", default="imagenet", help="model.encoder_weights of every arm but scratch (not for conv)")
    p.add_argument("--set", nargs="*", default=[], help="config overrides for every arm, e.g. optim.encoder_lr_mult=0.1")
    p.add_argument("--gan", default="", help="GAN run/export to transfer from (default: a membrane GAN of --gan-steps, trained once if not cached)")
    p.add_argument("--gan-steps", type=int, default=3000, help="steps when the GAN has to be trained")
    p.add_argument("--out", default=str(REPO / "runs" / "bench_seg_transfer"))
    args = p.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.fractions = [float(f) for f in args.fractions.split(",")]
    args.arms = args.arms.split(",") if args.arms else list(DEFAULT_ARMS["conv" if args.encoder == "conv" else "other"])
    unknown = [a for a in args.arms if a not in ARMS]
    if unknown:
        p.error(f"unknown arm {unknown[0]!r}; choose from {', '.join(ARMS)}")
    invalid = [a for a in args.arms if a in (PRETRAINED_ONLY if args.encoder == "conv" else CONV_ONLY)]
    if invalid:
        p.error(f"arm {invalid[0]!r} does not apply to --encoder {args.encoder}")
    if BASELINE not in args.arms:
        args.arms.insert(0, BASELINE)  # the differences need it
    return args


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if not seg_membrane.DATA.is_dir():
        print(f"skipped: no membrane data at {seg_membrane.DATA}")
        return
    gan = gan_export(args) if set(args.arms) & set(GAN_ARMS) or args.gan else Path("no_gan")  # --gan: reuse that budget's runs
    curves: dict[str, dict[float, dict[int, Curve]]] = {a: {f: {} for f in args.fractions} for a in args.arms}
    for seed in args.seeds:  # seed-major: every printed table compares arms on the same seeds
        for fraction in args.fractions:
            for arm in args.arms:
                curves[arm][fraction][seed] = run_arm(args, gan, arm, fraction, seed)
        print(f"\nafter seed {seed} ({args.steps} steps per run, GAN {gan}):\n" + format_table(summarize(curves)), flush=True)
    png = results_dir(args, gan) / "curves.png"
    plot_curves(curves, png)
    print(f"curves: {png}")


if __name__ == "__main__":
    main(sys.argv[1:])
