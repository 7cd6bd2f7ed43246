"""Train a DCGAN-style GAN.

    accelerate launch train_gan.py --config configs/quickstart.yaml train.steps=200 model.ngf=32
    python train_gan.py --config configs/quickstart.yaml --dry-run
"""
from __future__ import annotations

from gan.cli import config_main, exit_process
from gan.generation.config import load_gan_config


def run(cfg) -> int:
    from gan.generation.train import run_training  # heavy imports only when training

    return run_training(cfg)


def main(argv: list[str] | None = None) -> int:
    return config_main(__doc__, load_gan_config, run, argv, example="configs/quickstart.yaml")


if __name__ == "__main__":
    exit_process(main())
