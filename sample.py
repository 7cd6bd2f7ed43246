"""Sample images from a trained generator (an export, a checkpoint folder or a run directory).

    python sample.py runs/quickstart --grid grid.png --seeds 0-63
    python sample.py runs/quickstart/export --out samples/ --num 1000
    python sample.py runs/quickstart --interpolate interp.png --seeds 0-4 --steps 8
"""
from __future__ import annotations

import argparse
import sys

from gan.cli import fail, run_cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="export folder, checkpoint-<step> folder or run directory")
    p.add_argument("--grid", help="write an image grid PNG here")
    p.add_argument("--out", help="write individual PNGs into this folder")
    p.add_argument("--num", type=int, help="with --out: number of images (seeds 0..num-1 unless --seeds)")
    p.add_argument("--interpolate", help="write a slerp interpolation grid PNG here (rows between consecutive seeds)")
    p.add_argument("--steps", type=int, default=8, help="interpolation points per row")
    p.add_argument("--seeds", help="seeds such as 0-63 or 1,5,9: image i comes from seed i, whatever the batch size")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--nrow", type=int, help="images per grid row")
    p.add_argument("--device", default="cuda" if _cuda() else "cpu")
    return p


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.grid or args.out or args.interpolate):
        print("error: nothing to do: give --grid, --out and/or --interpolate", file=sys.stderr)
        return 2
    if args.batch_size < 1 or (args.num is not None and args.num < 1) or args.steps < 2:
        print("error: --batch-size and --num must be >= 1, --steps >= 2", file=sys.stderr)
        return 2
    if args.nrow is not None and args.nrow < 1:
        return fail(f"--nrow {args.nrow}: expected >= 1 images per grid row")
    from gan.generation import sampling as S

    try:
        seeds = S.parse_seeds(args.seeds) if args.seeds else list(range(args.num or 64))
    except ValueError as err:
        return fail(str(err))

    def job() -> int:
        from gan.outputs import check_output_file, check_output_folder

        # Outputs never go into the folder sampled from (nor its export), checked before loading.
        protect = [args.source, S.find_export(args.source)]
        for flag in ("grid", "interpolate"):
            if getattr(args, flag):
                check_output_file(getattr(args, flag), protect, f"--{flag}")
        if args.out:
            check_output_folder(args.out, protect=protect, what="--out")
        model, meta = S.load_generator(args.source, args.device)
        nz = meta["model"]["nz"]
        if args.grid or args.out:
            images = S.generate(model, S.latents_for_seeds(seeds, nz), args.batch_size, progress=True)
            if args.grid:
                print(f"wrote {S.save_grid(images, args.grid, args.nrow)}")
            if args.out:
                S.save_individual(images, args.out, [f"seed{s:06d}" for s in seeds])
                print(f"wrote {len(seeds)} images to {args.out}")
        if args.interpolate:
            anchors = seeds if len(seeds) >= 2 else [seeds[0], seeds[0] + 1]
            anchors = anchors[:9]  # at most 8 rows
            images = S.generate(model, S.interpolation_latents(anchors, nz, args.steps), args.batch_size)
            print(f"wrote {S.save_grid(images, args.interpolate, args.steps)}")
        return 0

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
