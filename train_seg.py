"""Train a segmentation model (encoder -> the generator's decoder -> class head), optionally from a GAN.

    accelerate launch train_seg.py --config configs/seg_shapes.yaml
    accelerate launch train_seg.py --config configs/seg_membrane.yaml init_from=runs/dcgan_membrane/export
    python train_seg.py --config configs/seg_shapes.yaml --dry-run
"""
from __future__ import annotations

import argparse
import sys

from gan.cli import run_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config file (see configs/seg_*.yaml)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.steps=200 model.fusion=concat")
    args = parser.parse_args(argv)

    def job() -> int:
        from gan.config import to_yaml
        from gan.seg.config import load_seg_config

        cfg = load_seg_config(args.config, args.overrides)
        if args.dry_run:
            print(to_yaml(cfg), end="")
            return 0
        from gan.seg.train import run_seg_training  # heavy imports only when training

        return run_seg_training(cfg)

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
