"""Train a segmentation model (encoder -> the generator's decoder -> class head), optionally from a GAN.

    accelerate launch train_seg.py --config configs/seg_shapes.yaml
    accelerate launch train_seg.py --config configs/seg_membrane.yaml init_from=runs/dcgan_membrane/export
    python train_seg.py --config configs/seg_shapes.yaml --dry-run
"""
from __future__ import annotations

from gan.cli import config_main, exit_process


def load(path: str | None, overrides: list[str]):
    from gan.seg.config import load_seg_config

    return load_seg_config(path, overrides)


def run(cfg) -> int:
    from gan.seg.train import run_seg_training  # heavy imports only when training

    return run_seg_training(cfg)


def main(argv: list[str] | None = None) -> int:
    return config_main(__doc__, load, run, argv, example="configs/seg_shapes.yaml")


if __name__ == "__main__":
    exit_process(main())
