"""Turn a folder of images into mask PNGs with a trained segmentation model.

    python predict_seg.py runs/seg_shapes images/ masks_out/
    python predict_seg.py runs/seg_membrane/best ../shared/data/membrane/images out/ --color
    python predict_seg.py user/my-seg images/ masks_out/            # a Hub repo id

The source is a run folder (its best/ export by mIoU, else export/), an export, hub or checkpoint
folder, or a Hub repo id (user/name[@revision], through the Hub cache; a local path wins).
Masks hold the training config's data.mask_values (e.g. 0/255) if it had them, else class indices.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gan.cli import REPO_ID_HELP, exit_process, run_cli


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="run, best/, export/, hub or checkpoint-<step> folder, or " + REPO_ID_HELP)
    p.add_argument("images", help="folder of input images (searched recursively)")
    p.add_argument("out", help="folder for the mask PNGs (same relative names, .png)")
    p.add_argument("--native", action="store_true", help="predict at the images' own size instead of the training scale")
    p.add_argument("--color", action="store_true", help="also write <name>_color.png with the class colours")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    def job() -> int:
        from gan.seg.predict import load_segmenter, predict_folder

        model, meta = load_segmenter(args.source, args.device)
        written = sum(1 for _ in predict_folder(model, meta, Path(args.images), Path(args.out), args.native, args.color))
        print(f"wrote {written} masks to {args.out}")
        return 0

    return run_cli(job)


if __name__ == "__main__":
    exit_process(main())
