"""CIFAR-10 quality against wall time: the toolkit's config under ``accelerate launch`` and the plain loop, by Inception FID.

    python benchmarks/cifar_quality.py --minutes 5 --plot docs/images/cifar_quality_fid.png
    python benchmarks/cifar_quality.py --minutes 10 --final-n 5000 --plot docs/images/cifar_quality_fid.png
    python benchmarks/cifar_quality.py --minutes 5 --loss rpgan --b-overrides loss.r1_gamma=0.1,loss.r2_gamma=0.1,loss.reg_every=4

Arms, trained at the same time for the same wall time (``--minutes``) on ``../shared/data/cifar10-test``
(10,000 images, as an image folder): the toolkit, ``accelerate launch --config_file accelerate.yaml
-q train_gan.py --config configs/dcgan_cifar10.yaml`` (plus the positional overrides) as a user runs
it, and ``benchmarks/plain_dcgan.py --imageSize 32`` (the pytorch/examples loop with the same DCGAN
at 32x32, float32, its 2 loader workers). With ``--loss`` or ``--b-overrides``, the second arm is the
toolkit again with ``loss.type`` and those overrides changed: an A/B (of the loss) at equal wall time.

The machine's cores are shared with other jobs, so each arm is pinned to one core (``taskset``;
``train.cpu_threads=1``, ``OMP_NUM_THREADS=1`` for the plain loop and its workers) and both run
concurrently: load from elsewhere hits both alike. The toolkit's decoded-image cache is built
before the clock starts (a one-step run), as on any run after a user's first. Periodic evaluation
is off in training (``eval.every=0``); snapshots (toolkit checkpoints every ``--ckpt-every`` steps,
EMA generator; plain ``netG`` every ``--save-every-s`` seconds) are timed by their files' mtimes
from the launch, and those nearest below ``--points`` equally spaced times are scored afterwards on
both cores: Inception FID (the bundled network of the fid extra, or torch-fidelity's weights when
present) of ``--n`` generated images against ``--real`` test images, the same latents for every
snapshot. With ``--final-n``, each arm's last snapshot is also scored under the reporting protocol
(``--final-n`` generated against ``--final-real`` real images, 0 = all 10,000). Prints a table, writes
``results.json`` in ``--out`` and, with ``--plot``, FID against wall time for both arms.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]  # the toolkit, plain_dcgan, cifar_images

from cifar_images import DEFAULT_DATA  # noqa: E402
from plain_dcgan import dcgan_networks  # noqa: E402

CONFIG = "configs/dcgan_cifar10.yaml"
NZ = 100  # the config's model.nz and plain_dcgan's --nz
FOREVER = "100000000"  # steps / iterations: the arms are stopped by the clock
GRACE_S = 120  # after SIGTERM: the toolkit writes a checkpoint, then exits


def toolkit_command(data: str, out: Path, overrides: list[str], ckpt_every: int, core: int | None) -> list[str]:
    pin = ["taskset", "-c", str(core)] if core is not None else []
    return pin + ["accelerate", "launch", "--config_file", "accelerate.yaml", "-q", "train_gan.py", "--config", CONFIG,
                  "data.name=image_folder", f"data.root={data}", "data.download=false", f"out_dir={out}", f"train.steps={FOREVER}",
                  "train.cpu_threads=1", f"checkpoint.every={ckpt_every}", "checkpoint.keep=100000", "eval.every=0", "log.tracker=none",
                  "overwrite=true", *overrides]


def plain_command(data: str, out: Path, save_every_s: float, core: int | None) -> list[str]:
    pin = ["taskset", "-c", str(core)] if core is not None else []
    return pin + [sys.executable, "benchmarks/plain_dcgan.py", "--dataroot", data, "--imageSize", "32", "--iters", FOREVER,
                  "--save-every-s", str(save_every_s), "--outf", str(out)]


def snapshots(arm_dir: Path, kind: str, start: float) -> list[tuple[float, int, Path]]:
    """(seconds after launch, step, path) of an arm's saved generators, oldest first."""
    found = []
    if kind == "plain":
        for f in arm_dir.glob("netG_*.pth"):
            found.append((f.stat().st_mtime - start, int(f.stem.split("_")[1]), f))
    else:
        for d in (arm_dir / "checkpoints").glob("checkpoint-*"):
            files = [f for f in d.iterdir() if f.is_file()]
            if files:
                found.append((max(f.stat().st_mtime for f in files) - start, int(d.name.split("-")[1]), d))
    return sorted(found)


def pick(snaps: list[tuple[float, int, Path]], budget_s: float, points: int) -> list[tuple[float, int, Path]]:
    """For each of ``points`` equally spaced times up to the budget, the last snapshot saved by then (each once)."""
    chosen: list[tuple[float, int, Path]] = []
    for i in range(1, points + 1):
        before = [s for s in snaps if s[0] <= budget_s * i / points]
        if before and before[-1] not in chosen:
            chosen.append(before[-1])
    return chosen


class PlainGenerator(nn.Module):
    """plain_dcgan's 32x32 generator as the toolkit's evaluator calls it: latents (N, nz) -> images."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.net = dcgan_networks(NZ, image_size=32)[0]
        self.net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.net.eval()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], NZ, 1, 1))


def train_arms(arms: list[dict], args: argparse.Namespace, out: Path) -> float:
    """Launch every arm at once, stop them after the budget; the launch time."""
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled")
    cores = [int(c) for c in args.cores.split(",")] if args.cores else [None] * len(arms)
    procs = []
    start = time.time()
    for arm, core in zip(arms, cores):
        cmd = (plain_command(args.data, out / arm["name"], args.save_every_s, core) if arm["kind"] == "plain"
               else toolkit_command(args.data, out / arm["name"], arm["overrides"], args.ckpt_every, core))
        (out / arm["name"]).mkdir(parents=True, exist_ok=True)
        log = open(out / f"{arm['name']}.log", "w")
        procs.append((subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log))
    time.sleep(args.minutes * 60)
    for proc, _ in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for (proc, log), arm in zip(procs, arms):
        try:
            proc.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        if proc.returncode not in (0, -signal.SIGTERM, 128 + signal.SIGTERM, 143):
            print(f"warning: arm {arm['name']} ended with exit code {proc.returncode}; see {out / (arm['name'] + '.log')}")
    return start


def warm_cache(args: argparse.Namespace, overrides: list[str], scratch: Path) -> None:
    """One toolkit step, so that the decoded-image cache exists before the clock starts."""
    cmd = toolkit_command(args.data, scratch, overrides, 1, None)
    cmd = [c for c in cmd if not c.startswith("train.steps=")] + ["train.steps=1"]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, env=dict(os.environ, WANDB_MODE="disabled"))
    shutil.rmtree(scratch, ignore_errors=True)


def evaluator(data_root: str, n: int, real: int):
    """An FID evaluator of ``n`` generated against ``real`` images of the folder (0 = all), with evaluate.py's
    cache: the real statistics of a protocol are computed once for all snapshots and runs."""
    from gan.config import DataConfig, EvalConfig
    from gan.evaluation import Evaluator, user_cache_dir

    cfg = EvalConfig(metrics=["fid"], num_samples=n, num_real=real, batch_size=64)
    return Evaluator(cfg, DataConfig(name="image_folder", root=data_root, resolution=32, channels=3), user_cache_dir())


def snapshot_generator(arm: dict, path: Path) -> nn.Module:
    from gan.generation.sampling import load_generator

    return PlainGenerator(path) if arm["kind"] == "plain" else load_generator(path)[0]


def score(arms: list[dict], picked: dict[str, list], args: argparse.Namespace, out: Path) -> tuple[list[dict], dict]:
    """The curve (every picked snapshot at ``--n``/``--real``) and, with ``--final-n``, the last snapshots at the reporting protocol."""
    ev = evaluator(args.data, args.n, args.real)
    rows = []
    for arm in arms:
        for t, step, path in picked[arm["name"]]:
            result = ev.evaluate_generator(snapshot_generator(arm, path), NZ, progress=False, source=str(path))
            rows.append({"arm": arm["name"], "label": arm["label"], "wall_s": round(t, 1), "step": step, "fid": result.values["fid"]})
            print(f"{arm['name']:<10} step {step:>6}  {t:6.0f} s  FID {result.values['fid']:.2f}", flush=True)
    protocol = {k: v for k, v in result.protocol.items() if k in ("n_fake", "n_real", "feature_extractor", "real")}
    final = score_final(arms, picked, args) if args.final_n else {}
    (out / "results.json").write_text(json.dumps({"rows": rows, "protocol": protocol, "final": final, "minutes": args.minutes,
                                                  "arms": [{k: a[k] for k in ("name", "label")} for a in arms]}, indent=1))
    return rows, final


def score_final(arms: list[dict], picked: dict[str, list], args: argparse.Namespace) -> dict:
    """Each arm's last snapshot under the reporting protocol: ``--final-n`` generated vs ``--final-real`` real images."""
    ev = evaluator(args.data, args.final_n, args.final_real)
    final: dict = {}
    for arm in arms:
        if not picked[arm["name"]]:
            continue
        t, step, path = picked[arm["name"]][-1]
        began = time.perf_counter()
        result = ev.evaluate_generator(snapshot_generator(arm, path), NZ, progress=True, source=str(path))
        final[arm["name"]] = {"label": arm["label"], "wall_s": round(t, 1), "step": step, "fid": result.values["fid"],
                              "n_fake": result.protocol["n_fake"], "n_real": result.protocol["n_real"],
                              "eval_wall_s": round(time.perf_counter() - began, 1)}
        print(f"final {arm['name']:<10} step {step:>6}  FID {result.values['fid']:.2f} "
              f"({result.protocol['n_fake']} generated vs {result.protocol['n_real']} real)", flush=True)
    return final


def plot(rows: list[dict], arms: list[dict], path: Path, title: str, final: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm["name"]]
        label = arm["label"]
        if arm["name"] in final:
            f = final[arm["name"]]
            label += f"\nlast snapshot: FID {f['fid']:.1f} at {f['n_fake']} vs {f['n_real']}"
        ax.plot([r["wall_s"] / 60 for r in mine], [r["fid"] for r in mine], marker="o", label=label)
    ax.set_xlabel("wall time (min; both arms side by side, one core each)")
    ax.set_ylabel("Inception FID (lower is better)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="the image folder (default: ../shared/data/cifar10-test)")
    p.add_argument("--minutes", type=float, default=5.0, help="training wall time of each arm (they run side by side)")
    p.add_argument("--points", type=int, default=4, help="snapshots scored per arm, at equally spaced times")
    p.add_argument("--n", type=int, default=500, help="generated images per FID")
    p.add_argument("--real", type=int, default=1000, help="real images the FID compares with (eval.num_real)")
    p.add_argument("--final-n", type=int, default=0, help="also score each arm's last snapshot with this many generated images (0 = skip)")
    p.add_argument("--final-real", type=int, default=0, help="real images of that final FID (0 = the whole folder)")
    p.add_argument("--ckpt-every", type=int, default=100, help="toolkit checkpoint interval, steps")
    p.add_argument("--save-every-s", type=float, default=15.0, help="plain loop snapshot interval, seconds")
    p.add_argument("--cores", default="0,1", help="a core for each arm (taskset); '' = unpinned")
    p.add_argument("--loss", default="", help="A/B: the second arm is the toolkit with this loss.type instead of the plain loop")
    p.add_argument("--b-overrides", default="", help="A/B: comma-separated overrides of the second toolkit arm, e.g. loss.r1_gamma=0.1,loss.reg_every=4")
    p.add_argument("--out", default="runs/cifar_quality")
    p.add_argument("--plot", default="", help="write FID against wall time here (PNG)")
    p.add_argument("overrides", nargs="*", help="overrides of every toolkit arm (e.g. train.ema_decay=0.99)")
    args = p.parse_args()
    out = (REPO / args.out).resolve() if not Path(args.out).is_absolute() else Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    base = {"name": "toolkit", "kind": "toolkit", "overrides": list(args.overrides), "label": "toolkit (" + CONFIG + ")"}
    if args.loss or args.b_overrides:
        extra = [f"loss.type={args.loss}"] * bool(args.loss) + [o for o in args.b_overrides.split(",") if o]
        arms = [base, {"name": "toolkit_b", "kind": "toolkit", "overrides": list(args.overrides) + extra,
                       "label": "toolkit, " + " ".join(extra)}]
    else:
        arms = [base, {"name": "plain", "kind": "plain", "overrides": [], "label": "plain loop (plain_dcgan.py --imageSize 32)"}]
    if args.overrides:
        base["label"] += " " + " ".join(args.overrides)
    warm_cache(args, list(args.overrides), out / "warm")
    print(f"training {' and '.join(a['name'] for a in arms)} side by side for {args.minutes:g} min (cores {args.cores or 'unpinned'})", flush=True)
    start = train_arms(arms, args, out)
    budget = args.minutes * 60
    picked = {a["name"]: pick(snapshots(out / a["name"], a["kind"], start), budget, args.points) for a in arms}
    print(f"scoring: FID of {args.n} generated vs {args.real} real images, {torch.get_num_threads()} threads", flush=True)
    rows, final = score(arms, picked, args, out)
    print("\n| arm | step | wall time (s) | FID |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {r['step']} | {r['wall_s']:.0f} | {r['fid']:.2f} |")
    for name, f in final.items():
        print(f"final {name}: step {f['step']}, FID {f['fid']:.2f} ({f['n_fake']} generated vs {f['n_real']} real, "
              f"scored in {f['eval_wall_s']:.0f} s)")
    if args.plot:
        plot(rows, arms, Path(args.plot), f"CIFAR-10 test, {args.minutes:g} min per arm; curve: FID {args.n} fake vs {args.real} real", final)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
