"""Sample images from a trained generator (an export, a checkpoint folder or a run directory).

The quick start's run (configs/quickstart.yaml) is class-conditional: its classes are circle,
square and triangle (labels 0, 1, 2), picked with --labels by index or by name, in any case.

    python sample.py runs/quickstart --grid grid.png                      # one row per class, seeds 0-7 as columns
    python sample.py runs/quickstart --grid grid.png --labels circle,triangle --per-label 16
    python sample.py runs/quickstart --out samples/ --num 100 --labels square   # label1-seed000000.png, ...
    python sample.py runs/quickstart/export --out samples/ --num 999      # label0-seed000000.png, label1-seed000001.png, ...
    python sample.py runs/quickstart --interpolate interp.png --labels 2 --seeds 0-4 --steps 8   # rows within class 2

Without --labels, a conditional export's --grid shows one row per class (the first 10 classes,
8 seeds each, or --seeds as the columns) and --out cycles the labels (image i, seed s: class
i % num_classes, file label<k>-seed<s>.png); --interpolate rows cycle the classes the same way.
An unconditional export (model.num_classes=0) takes the same commands without --labels and
--per-label: --grid then shows --seeds (default 0-63), --out writes seed000000.png, ...

The source may also be a Hub repo id (user/my-gan, or user/my-gan@v1 for a revision), fetched
through the Hub cache; a local path of the same name wins.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from gan.cli import REPO_ID_HELP, exit_process, fail, run_cli  # light (no torch): --help stays fast; torch is imported after parsing


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="export, hub or checkpoint-<step> folder, run directory, or " + REPO_ID_HELP)
    p.add_argument("--grid", help="write an image grid PNG here")
    p.add_argument("--out", help="write individual PNGs into this folder")
    p.add_argument("--num", type=int, help="with --out: number of images (seeds 0..num-1 unless --seeds); written a batch at a "
                   "time, refused up front when they may not fit on --out's disk (uncompressed size + 4 KiB per PNG)")
    p.add_argument("--interpolate", help="write a slerp interpolation grid PNG here (rows between consecutive seeds)")
    p.add_argument("--steps", type=int, default=8, help="interpolation points per row")
    p.add_argument("--seeds", help="seeds such as 0-63 or 1,5,9: image i comes from seed i, whatever the batch size")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--nrow", type=int, help="images per grid row")
    p.add_argument("--labels", help="conditional exports: classes such as 0-2, 1, 0,2 or class names in any case (circle,Square); "
                   "--grid: one row per label, --out: --num images per label, --interpolate: the rows within each label")
    p.add_argument("--per-label", type=int, help="--grid of a conditional export: seeds 0..n-1 as columns of every label row "
                   "(default 8; or give the columns with --seeds); --nrow does not apply to such grids")
    p.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    return p


def default_device() -> str:
    """``cuda`` when available, else ``cpu`` (imports torch: called after parsing, so --help stays fast)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


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
    if args.per_label is not None and (args.per_label < 1 or args.seeds):
        return fail(f"--per-label {args.per_label}: expected >= 1 columns, and not together with --seeds (which gives the columns)")
    from gan.generation import class_sampling as C
    from gan.generation import sampling as S
    from gan.models.generate import GRID_SEEDS

    args.device = args.device or default_device()
    try:  # a range, not a list: --out streams its images, so a huge --num allocates nothing up front
        seeds = S.parse_seeds(args.seeds) if args.seeds else range(args.num or GRID_SEEDS)
    except ValueError as err:
        return fail(str(err))

    def job() -> int:
        from gan.formats.resolve import resolve_source
        from gan.outputs import check_output_file, check_output_folder

        source = resolve_source(args.source)  # a local path wins; else a Hub repo id, through the Hub cache
        # Outputs never go into the folder sampled from (nor its export), checked before loading.
        protect = [source, S.find_export(source)]
        for flag in ("grid", "interpolate"):
            if getattr(args, flag):
                check_output_file(getattr(args, flag), protect, f"--{flag}")
        if args.out:
            check_output_folder(args.out, protect=protect, what="--out")
        model, meta = S.load_generator(source, args.device)
        nz = meta["model"]["nz"]
        if C.num_classes(meta) or args.labels or args.per_label is not None:
            return sample_conditional(args, model, meta, seeds)
        if args.grid:
            S.check_grid_size(len(seeds))
        if args.out:
            S.check_free_space(args.out, len(seeds), meta["model"]["resolution"])
        if args.grid:
            images = S.generate(model, S.latents_for_seeds(seeds, nz), args.batch_size, progress=True)
            print(f"wrote {S.save_grid(images, args.grid, args.nrow)}")
        if args.out:
            items = ((f"seed{s:06d}", s, None) for s in seeds)
            count = S.write_individual(model, items, len(seeds), nz, args.out, args.batch_size, progress=True)
            print(f"wrote {count} images to {args.out}")
        if args.interpolate:
            anchors = seeds if len(seeds) >= 2 else [seeds[0], seeds[0] + 1]
            anchors = anchors[:9]  # at most 8 rows
            images = S.generate(model, S.interpolation_latents(anchors, nz, args.steps), args.batch_size)
            print(f"wrote {S.save_grid(images, args.interpolate, args.steps)}")
        return 0

    return run_cli(job)


def sample_conditional(args: argparse.Namespace, model: Any, meta: dict, seeds: Sequence[int]) -> int:
    """``--grid``/``--out``/``--interpolate`` of a class-conditional export (``--labels`` picks the classes)."""
    from gan.generation import class_sampling as C
    from gan.generation import sampling as S
    from gan.models.generate import GRID_PER_CLASS, grid_labels

    nz, classes = meta["model"]["nz"], C.num_classes(meta)
    if not classes:
        return fail(f"--labels/--per-label: '{args.source}' holds an unconditional generator (its export records no num_classes); "
                    "they need a class-conditional one")
    try:
        labels = C.parse_labels(args.labels, classes, C.label_names(meta)) if args.labels else None
    except ValueError as err:
        return fail(str(err))
    columns = seeds if args.seeds else range(args.per_label or GRID_PER_CLASS)  # of --grid, with a row per label
    rows = labels or grid_labels(classes)
    out_count = len(seeds) * (len(labels) if labels else 1)  # --out: --num per label, or --num cycling the classes
    if args.grid:
        S.check_grid_size(len(rows) * len(columns))
    if args.out:
        S.check_free_space(args.out, out_count, meta["model"]["resolution"])
    if args.grid:
        plan = C.per_label(rows, columns, nz)
        images = S.generate(model, plan.latents, args.batch_size, progress=True, labels=plan.labels)
        print(f"wrote {S.save_grid(images, args.grid, len(columns))} (one row per label, one column per seed)")
    if args.out:
        pairs = C.per_label_pairs(labels, seeds) if labels else C.cycled_pairs(seeds, classes)
        items = ((C.file_stem(k, s), s, k) for k, s in pairs)
        print(f"wrote {S.write_individual(model, items, out_count, nz, args.out, args.batch_size, progress=True)} images to {args.out}")
    if args.interpolate:
        anchors = (seeds if len(seeds) >= 2 else [seeds[0], seeds[0] + 1])[:9]  # at most 8 rows per label
        latents, row_labels = C.interpolation(anchors, labels, classes, nz, args.steps)
        images = S.generate(model, latents, args.batch_size, labels=row_labels)
        print(f"wrote {S.save_grid(images, args.interpolate, args.steps)}")
    return 0


if __name__ == "__main__":
    exit_process(main())
