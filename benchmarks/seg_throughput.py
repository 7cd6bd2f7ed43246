"""Segmentation throughput: training and prediction images/s on CamVid-sized (360x480) RGB frames.

    python benchmarks/seg_throughput.py                                   # configs/seg_membrane.yaml model, RGB, 11 classes
    python benchmarks/seg_throughput.py --steps 3 --warmup 1 --predict 4  # a quick check
    python benchmarks/seg_throughput.py --config my_seg.yaml --size 360 480 --device cuda
    python benchmarks/seg_throughput.py --set model.encoder=resnet18 model.fusion=concat

The model is the one ``train_seg.py`` builds from the config (``gan.seg.task.model_kwargs``), with
``data.channels=3`` and ``--classes`` classes (CamVid's 11) unless ``--set`` says otherwise. Inputs
are random images of ``--size H W``; the model pads a frame to its encoder's stride and runs it
whole (as in ``predict_seg.py --native``).

- training: one step = forward on a batch of ``--batch`` frames + cross-entropy/Dice loss
  (``gan.seg.losses.SegLoss``) + backward + AdamW step, as in the training task.
- prediction: ``gan.seg.predict.predict_image`` per frame (eval mode, no grad), the path of
  ``predict_seg.py``: by default the frame is scaled so its shorter side is ``data.resolution``
  and the labels are resized back; ``--native`` keeps the frame's own size.

Warm-up steps are not timed. Prints images/s.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan.seg.config import load_seg_config  # noqa: E402
from gan.seg.losses import SegLoss  # noqa: E402
from gan.seg.model import SegmentationModel  # noqa: E402
from gan.seg.predict import predict_image  # noqa: E402
from gan.seg.task import model_kwargs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_images_per_s(model: SegmentationModel, loss_fn: SegLoss, lr: float, batch: int, size: tuple[int, int], steps: int, warmup: int) -> float:
    """Images/s of full training steps on random frames and labels (after ``warmup`` untimed steps)."""
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    images = torch.rand(batch, model.channels, *size, device=device) * 2 - 1
    masks = torch.randint(0, model.num_classes, (batch, *size), device=device)
    model.train()
    start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_fn(model(images), masks)
        loss.backward()
        opt.step()
    sync(device)
    return batch * steps / (time.perf_counter() - start)


def predict_images_per_s(model: SegmentationModel, resolution: int, size: tuple[int, int], count: int, warmup: int, native: bool) -> float:
    """Images/s of ``predict_image`` on random frames, one at a time (as ``predict_seg.py`` goes)."""
    device = next(model.parameters()).device
    model.eval()
    frames = [torch.rand(1, model.channels, *size) * 2 - 1 for _ in range(count)]
    for frame in frames[:warmup]:
        predict_image(model, frame, resolution, native)
    sync(device)
    start = time.perf_counter()
    for frame in frames:
        predict_image(model, frame, resolution, native)
    sync(device)
    return count / (time.perf_counter() - start)


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(REPO / "configs" / "seg_membrane.yaml"))
    p.add_argument("--set", nargs="*", default=[], help="dotted config overrides, e.g. model.encoder=resnet18")
    p.add_argument("--size", nargs=2, type=int, default=[360, 480], metavar=("H", "W"))
    p.add_argument("--classes", type=int, default=11, help="output classes (CamVid: 11)")
    p.add_argument("--batch", type=int, default=0, help="training batch (0 = the config's train.batch_size)")
    p.add_argument("--steps", type=int, default=10, help="timed training steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed training steps / predictions first")
    p.add_argument("--predict", type=int, default=20, help="timed predictions")
    p.add_argument("--native", action="store_true", help="predict at the frame's own size, not rescaled")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    cfg = load_seg_config(args.config, ["data.channels=3", *args.set])
    device, size = torch.device(args.device), (args.size[0], args.size[1])
    batch = args.batch or cfg.train.batch_size
    torch.manual_seed(0)
    model = SegmentationModel(**model_kwargs(cfg, args.classes)).to(device)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    print(f"model: {cfg.model.encoder} encoder, ngf {cfg.model.ngf}, fusion {cfg.model.fusion}, {params:.2f} M parameters, "
          f"working size {model.work_resolution}; input {size[0]}x{size[1]} RGB, {args.classes} classes; {device}{threads}")
    loss_fn = SegLoss(cfg.data.ignore_index, cfg.loss.dice_weight)
    train = train_images_per_s(model, loss_fn, cfg.optim.lr, batch, size, args.steps, args.warmup)
    print(f"training   (batch {batch}, {args.steps} steps): {train:.2f} images/s")
    mode = "native size" if args.native else f"shorter side scaled to {cfg.data.resolution}"
    pred = predict_images_per_s(model, cfg.data.resolution, size, args.predict, args.warmup, args.native)
    print(f"prediction ({mode}, {args.predict} images): {pred:.2f} images/s")


if __name__ == "__main__":
    main(sys.argv[1:])
