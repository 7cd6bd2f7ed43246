"""Joint image/mask transforms (torchvision.transforms.v2 with ``tv_tensors.Mask``).

v2 resamples ``Mask`` inputs with nearest-neighbour only, so labels are never blended. Random
augmentations draw from a seed taken from a caller-owned ``torch.Generator`` (inside a forked
global RNG), which makes them reproducible and exactly resumable: the generator's state is
checkpointed with the task.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

SEED_RANGE = 2**62
CROP_SCALE = (0.5, 1.0)  # random resized crop keeps at least half the image area
ROTATE_DEGREES = 15.0
JITTER = 0.2  # brightness / contrast jitter strength (image only)

Pair = tuple[torch.Tensor, torch.Tensor]
Size = int | tuple[int, int]  # a square side, or (H, W)


def resize_pair(image: torch.Tensor, mask: torch.Tensor, resolution: Size) -> Pair:
    """Resize jointly (mask by nearest neighbour): an int resizes the shorter side and centre-crops a
    square; ``(H, W)`` resizes the whole frame to exactly that size (nothing is cut off)."""
    if isinstance(resolution, tuple):
        pipeline = v2.Resize(resolution, antialias=True)
    else:
        pipeline = v2.Compose([v2.Resize(resolution, antialias=True), v2.CenterCrop(resolution)])
    img, msk = pipeline(tv_tensors.Image(image), tv_tensors.Mask(mask))
    return img.as_subclass(torch.Tensor), msk.as_subclass(torch.Tensor)


class RandomRot90:
    """Rotate image and mask by the same random multiple of 90 degrees (exact, no resampling)."""

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        k = int(torch.randint(4, ()))
        return torch.rot90(image, k, dims=(-2, -1)), torch.rot90(mask, k, dims=(-2, -1))


class RandomScale:
    """Rescale image and mask by one random factor in ``[lo, hi]`` (scale jitter; mask by nearest)."""

    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        factor = self.lo + (self.hi - self.lo) * float(torch.rand(()))
        h, w = image.shape[-2:]
        size = [max(1, round(h * factor)), max(1, round(w * factor))]
        return v2.functional.resize(image, size, antialias=True), v2.functional.resize(mask, size)


def _fill(ignore_index: int) -> dict:
    return {tv_tensors.Image: 0.0, tv_tensors.Mask: ignore_index}  # padding is 'unknown', not background


def augment_ops(resolution: Size, ignore_index: int) -> dict[str, Callable[..., Pair]]:
    """Every op of gan.names.SEG_AUGMENTATIONS by name, in application order (geometry first, colour last).

    ``resolution`` is the training sample's size (a square side or ``(h, w)``): ``crop`` keeps it.
    """
    fill = _fill(ignore_index)
    h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
    ratio = (w / h * 3 / 4, w / h * 4 / 3)  # torchvision's default aspect range, around the sample's own
    return {
        "crop": v2.RandomResizedCrop((h, w), scale=CROP_SCALE, ratio=ratio, antialias=True),
        "hflip": v2.RandomHorizontalFlip(),
        "vflip": v2.RandomVerticalFlip(),
        "rot90": RandomRot90(),
        "rotate": v2.RandomRotation(ROTATE_DEGREES, fill=fill),
        "color": v2.ColorJitter(brightness=JITTER, contrast=JITTER),
    }


def build_ops(names: Sequence[str], resolution: Size, ignore_index: int) -> list[Callable[..., Pair]]:
    """The augmentation ops named in ``data.augment``, in the fixed order of :func:`augment_ops`."""
    return [op for name, op in augment_ops(resolution, ignore_index).items() if name in names]


class JointAugment:
    """Apply the same random geometry to an image in [-1, 1] ``(C, H, W)`` and its mask ``(H, W)``.

    With ``crop`` ``(h, w)`` every sample is first rescaled by ``scale_jitter`` ``(lo, hi)`` (if
    given), then cut to a random ``h x w`` window (padded with ``ignore_index`` where too small), and
    the named ops work at that size; else they work at ``resolution``.
    """

    def __init__(self, names: Sequence[str], resolution: Size, ignore_index: int = 255, crop: tuple[int, int] | None = None, scale_jitter: Sequence[float] = ()) -> None:
        window: list[Callable[..., Pair]] = [RandomScale(*scale_jitter)] if scale_jitter else []
        if crop:
            window.append(v2.RandomCrop(crop, pad_if_needed=True, fill=_fill(ignore_index)))
        self.ops = window + build_ops(names, crop or resolution, ignore_index)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor, generator: torch.Generator) -> Pair:
        if not self.ops:
            return image, mask
        seed = int(torch.randint(SEED_RANGE, (), generator=generator))
        img, msk = tv_tensors.Image((image + 1) / 2), tv_tensors.Mask(mask)  # v2 colour ops expect [0, 1]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for op in self.ops:
                img, msk = op(img, msk)
        return img.as_subclass(torch.Tensor).clamp(0, 1) * 2 - 1, msk.as_subclass(torch.Tensor)

    def batch(self, images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator) -> Pair:
        """Augment each sample of a batch independently (on the CPU, in the batch's order)."""
        if not self.ops:
            return images, masks
        pairs = [self(i.cpu(), m.cpu(), generator) for i, m in zip(images, masks)]
        return torch.stack([p[0] for p in pairs]).to(images.device), torch.stack([p[1] for p in pairs]).to(masks.device)
