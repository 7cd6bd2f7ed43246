"""A small digit CNN for evaluating MNIST-like generators: one TorchScript file for features and labels.

    python benchmarks/digit_classifier.py                          # 32x32, -> runs/digit_classifier/digits32.pt
    python benchmarks/digit_classifier.py --resolution 28 --out digits28.pt
    python evaluate.py runs/digits eval.feature_extractor=torchscript eval.feature_extractor_path=runs/digit_classifier/digits32.pt \
        eval.metrics=fid,class_accuracy eval.classifier_path=runs/digit_classifier/digits32.pt eval.per_class=true eval.trust_torchscript=true

Trains (seeded, CPU, about 2.5 CPU minutes) on ``../shared/data/mnist-test`` (the 10,000 MNIST test images
as ``<digit>/<index>.png``): a seeded split of 9,000 training and 1,000 held-out images, 3 epochs of batch 32,
then prints the held-out accuracy of the exported file. The file maps float images
``(N, 3, H, W)`` in [0, 1] at ``--resolution`` (what the toolkit's evaluation feeds custom
extractors; it reads ``x[:, :1]``) to ``(features, logits)``: 128-d penultimate features and 10
digit logits. So the same file serves as ``eval.feature_extractor=torchscript`` (FID, KID, IS in
digit features) and as ``eval.classifier_path`` (``class_accuracy``), with ``eval.trust_torchscript=true``
(loading TorchScript runs code from the file: trust only files you made).

FIDs computed in these features are NOT Inception FIDs: they are not comparable with published FID
numbers (which use torch-fidelity's InceptionV3), only with each other, for the same file.
Training images go through the evaluation's own conversion ([-1, 1] -> uint8 -> [0, 1]), so the
classifier sees generated and real images exactly as the metrics give them.
"""
from __future__ import annotations

import argparse
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from gan.data import ImageFolder
from gan.models.generate import to_uint8_rgb

FEATURES, CLASSES = 128, 10
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # normalisation inside the network, so callers pass plain [0, 1]


class DigitNet(nn.Module):
    """(N, 3, H, W) in [0, 1] -> (features (N, 128), logits (N, 10)); only the first channel is read."""

    def __init__(self) -> None:
        super().__init__()
        self.mean, self.std = MNIST_MEAN, MNIST_STD  # attributes: TorchScript does not read module globals
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4),  # any input size -> 4x4
        )
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(64 * 16, FEATURES), nn.ReLU())
        self.classify = nn.Linear(FEATURES, CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(self.conv((x[:, :1] - self.mean) / self.std))
        return feats, self.classify(feats)


def load_digits(root: Path, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image as float (N, 3, R, R) in [0, 1] through the evaluation's uint8 conversion, and its digit."""
    folder = ImageFolder(root, resolution, 1, labels="folders")
    images, labels = zip(*(folder[i] for i in range(len(folder))))
    x = to_uint8_rgb(torch.stack(images)).float() / 255.0
    digits = torch.tensor([int(folder.label_names[k]) for k in labels])  # folder names are the digits
    return x, digits


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    with torch.no_grad():
        predicted = torch.cat([net(xb)[1].argmax(1) for xb in x.split(batch)])
    return float((predicted == y).float().mean())


def train(x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int, seed: int, make_net: Callable[[], nn.Module] = DigitNet) -> nn.Module:
    """Adam, cross-entropy, seeded initialisation and batch order; ``make_net`` builds the (scriptable) network."""
    torch.manual_seed(seed)
    net = make_net()
    with quiet_jit():
        torch.jit.script(net)  # fail now, not after training
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    order_rng = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        total = 0.0
        for idx in torch.randperm(len(x), generator=order_rng).split(batch):
            loss = F.cross_entropy(net(x[idx])[1], y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        print(f"epoch {epoch + 1}/{epochs}: train loss {total / len(x):.4f}")
    return net.eval()


def save_scripted(net: nn.Module, out: Path) -> torch.jit.ScriptModule:
    """Write ``net`` as TorchScript to ``out`` and load it back: figures are then the exported file's, not the Python module's."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with quiet_jit():
        torch.jit.save(torch.jit.script(net), out)
        return torch.jit.load(str(out))


@contextmanager
def quiet_jit() -> Iterator[None]:
    """Silence torch >= 2.10's FutureWarning that TorchScript is deprecated: it still works, and the evaluation reads it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/mnist-test", help="MNIST as <digit>/<image>.png folders")
    p.add_argument("--resolution", type=int, default=32, help="input size the file is trained for (the generator's)")
    p.add_argument("--out", help="TorchScript file (default runs/digit_classifier/digits<resolution>.pt)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--holdout", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    out = Path(args.out or f"runs/digit_classifier/digits{args.resolution}.pt")

    start = time.perf_counter()
    x, y = load_digits(Path(args.data), args.resolution)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))
    test, fit = order[: args.holdout], order[args.holdout:]
    loaded = time.perf_counter()
    print(f"{len(x)} images at {args.resolution}x{args.resolution} loaded in {loaded - start:.1f} s: {len(fit)} train, {len(test)} held out")
    net = train(x[fit], y[fit], args.epochs, args.batch_size, args.seed)
    trained = time.perf_counter()

    reloaded = save_scripted(net, out)
    acc = accuracy(reloaded, x[test], y[test])
    feats, logits = reloaded(x[test][:2])
    print(f"held-out accuracy {acc:.4f} ({len(test)} images); training {trained - loaded:.1f} s, total {time.perf_counter() - start:.1f} s "
          f"({torch.get_num_threads()} threads)")
    print(f"wrote {out}: (N, 3, {args.resolution}, {args.resolution}) in [0, 1] -> features {tuple(feats.shape[1:])}, logits {tuple(logits.shape[1:])}")
    print("FIDs in these features are not Inception FIDs: compare them only with each other, for this file.")


if __name__ == "__main__":
    main()
