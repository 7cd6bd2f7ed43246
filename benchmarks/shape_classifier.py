"""A small shape CNN (circle / square / triangle) for scoring the quick start's conditional generator.

    python benchmarks/shape_classifier.py      # the quick start's shapes -> runs/shape_classifier/shapes32.pt
    python evaluate.py runs/quickstart eval.metrics=class_accuracy eval.classifier_path=runs/shape_classifier/shapes32.pt eval.trust_torchscript=true
    python benchmarks/shape_classifier.py --train-images 600 --holdout 90 --epochs 1 --out /tmp/toy.pt   # a toy-sized try

Trains (seeded, CPU, about a minute) on one-shape images of the embedded shapes dataset, drawn with
the quick-start config's data settings (``--config``; ``key=value`` overrides as for training) but
another seed, and checks on held-out images of the config's own seed. The TorchScript file maps
float images ``(N, 3, H, W)`` in [0, 1] (what the evaluation feeds custom extractors) to
``(features (N, 128), logits (N, 3))`` in the order of ``gan.data.shapes.SHAPE_NAMES``, so it serves
as ``eval.classifier_path`` (``class_accuracy``) and as a feature extractor, both with ``eval.trust_torchscript=true``
(TorchScript runs code: trust only files you made). Its held-out accuracy is
printed: a ``class_accuracy`` is only as good as the classifier that scores it.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
from torch import nn

from digit_classifier import FEATURES, accuracy, save_scripted, train
from gan.cli import exit_process, run_cli
from gan.config.loading import load_config
from gan.data import build_image_dataset
from gan.data.shapes import SHAPE_NAMES
from gan.errors import ConfigError
from gan.generation.config import GANConfig
from gan.models.generate import to_uint8_rgb

REPO = Path(__file__).resolve().parents[1]


class ShapeNet(nn.Module):
    """(N, 3, H, W) in [0, 1] -> (features (N, 128), logits (N, 3))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),  # any input size -> 4x4
        )
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(64 * 16, FEATURES), nn.ReLU())
        self.classify = nn.Linear(FEATURES, len(SHAPE_NAMES))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(self.conv(x * 2 - 1))
        return feats, self.classify(feats)


def load_shapes(cfg: GANConfig, seed: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` labelled one-shape images of the config's data settings with ``seed``, float in [0, 1] via uint8."""
    # The training pipeline's own dataset (one shape an image = labelled), uncached: nothing written to the cache folder.
    ds = build_image_dataset(dataclasses.replace(cfg.data, shapes_seed=seed, shapes_size=count, shapes_max=1, limit=0, cache="none"))
    images, labels = zip(*(ds[i] for i in range(count)))
    return to_uint8_rgb(torch.stack(images)).float() / 255.0, torch.tensor(labels)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(REPO / "configs" / "quickstart.yaml"), help="the training config whose shapes to learn")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the config's data settings")
    p.add_argument("--out", help="TorchScript file (default runs/shape_classifier/shapes<resolution>.pt, under the current folder)")
    p.add_argument("--train-images", type=int, default=12000, help="one-shape training images")
    p.add_argument("--holdout", type=int, default=2000, help="held-out images the printed accuracy is measured on")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    """Train, export and check the classifier; bad flags or config values are one ``error:`` line (exit 2)."""
    args = build_parser().parse_args(argv)

    def job() -> int:
        for flag in ("train_images", "holdout", "epochs", "batch_size"):
            if getattr(args, flag) < 1:
                raise ConfigError(f"--{flag.replace('_', '-')}: got {getattr(args, flag)}, expected >= 1")
        cfg = load_config(GANConfig, args.config, args.overrides)
        if cfg.data.name != "shapes":
            raise ConfigError(f"{args.config}: data.name is '{cfg.data.name}'; expected shapes (this classifier learns the embedded shapes)")
        run(cfg, args)
        return 0

    return run_cli(job)


def run(cfg: GANConfig, args: argparse.Namespace) -> None:
    """Draw the shapes, train, write the TorchScript file and print its held-out accuracy."""
    out = Path(args.out or f"runs/shape_classifier/shapes{cfg.data.resolution}.pt")
    start = time.perf_counter()
    x, y = load_shapes(cfg, cfg.data.shapes_seed + 1, args.train_images)  # another seed than the GAN trains on
    x_test, y_test = load_shapes(cfg, cfg.data.shapes_seed, args.holdout)
    loaded = time.perf_counter()
    print(f"{len(x)} training and {len(x_test)} held-out shapes at {cfg.data.resolution}x{cfg.data.resolution} "
          f"({cfg.data.shapes_background} background) drawn in {loaded - start:.1f} s")
    net = train(x, y, args.epochs, args.batch_size, args.seed, make_net=ShapeNet)
    trained = time.perf_counter()

    reloaded = save_scripted(net, out)
    print(f"held-out accuracy {accuracy(reloaded, x_test, y_test):.4f} ({len(x_test)} images); training {trained - loaded:.1f} s "
          f"({torch.get_num_threads()} threads)")
    print(f"wrote {out}: (N, 3, R, R) in [0, 1] -> (features, logits over {', '.join(SHAPE_NAMES)})")


if __name__ == "__main__":
    exit_process(main())
