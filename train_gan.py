"""Train a DCGAN-style GAN.

    accelerate launch train_gan.py --config configs/quickstart.yaml train.steps=200 model.ngf=32
    python train_gan.py --config configs/quickstart.yaml --dry-run
"""
from __future__ import annotations

import argparse
import sys

from gan.cli import run_cli
from gan.config import GANConfig, load_config, to_yaml


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config file (see configs/)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.steps=200")
    args = parser.parse_args(argv)

    def job() -> int:
        cfg = load_config(GANConfig, args.config, args.overrides)
        if args.dry_run:
            print(to_yaml(cfg), end="")
            return 0
        from gan.train import run_training  # heavy imports only when training

        return run_training(cfg)

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
