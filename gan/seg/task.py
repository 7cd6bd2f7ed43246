"""The segmentation job as a :class:`gan.engine.trainer.Task`: model, data, loss, one step, export."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, Subset

from ..config import to_dict
from ..data.loaders import train_loader
from ..engine.best import BestKeeper
from ..engine.data_stream import BatchStream
from ..engine.optim import fused_optimizer
from ..engine.state import RandomStream, StateRegistry
from ..engine.streams import process_stream
from ..engine.update import StepGuard, optimizer_update, sync_context
from ..errors import DataError
from ..formats import SEGMENTER, write_export
from ..process.workers import ignore_stop_signals, load_first_item
from .config import SegConfig
from .data import SegData, build_seg_data
from .frames import collate_frames
from .class_weights import cached_class_weights
from .finetune import EncoderFineTune, param_groups, resolve_bn_mode
from .losses import SegLoss
from .model import SegmentationModel
from .transfer import transfer_from_gan
from .transforms import JointAugment

def model_kwargs(cfg: SegConfig, num_classes: int) -> dict[str, Any]:
    m, d = cfg.model, cfg.data
    return dict(
        num_classes=num_classes, channels=d.channels, resolution=d.resolution, ngf=m.ngf, ndf=m.ndf,
        max_channels=m.max_channels, upsample=m.upsample, norm=m.norm, fusion=m.fusion, encoder=m.encoder,
    )


def lr_factor(step: int, total: int, schedule: str) -> float:
    """Learning-rate multiplier at ``step`` (a pure function of the step: nothing to checkpoint)."""
    if schedule == "constant":
        return 1.0
    return 0.5 * (1 + math.cos(math.pi * min(step, total) / total))


class SegTask:
    """Cross-entropy (+ Dice) training of a :class:`SegmentationModel`, optionally from a GAN's decoder."""

    loss_keys = ["loss", "ce", "dice"]

    def __init__(self, cfg: SegConfig, accelerator: Accelerator, data: SegData | None = None) -> None:
        self.cfg, self.acc = cfg, accelerator
        self.plot_every = cfg.eval.every
        self.data = data or build_seg_data(cfg.data, cfg.train.seed, cfg.eval.native_size)
        self.class_names, self.ignore_index = self.data.class_names, self.data.ignore_index
        model = SegmentationModel(**model_kwargs(cfg, len(self.class_names)), encoder_weights=cfg.model.encoder_weights)
        if model.encoder.weights_report and accelerator.is_main_process:
            print(model.encoder.weights_report)
        self.frozen = self._init_from_gan(model)
        self.finetune = EncoderFineTune(model, resolve_bn_mode(cfg.model.encoder_bn, cfg.model.encoder_weights), cfg.transfer.freeze_encoder_steps)
        self.loss = SegLoss(self.ignore_index, cfg.loss.dice_weight, self._class_weights())
        o = cfg.optim
        opt = torch.optim.AdamW(param_groups(model, o.lr, o.encoder_lr_mult), lr=o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay,
                                **fused_optimizer(accelerator.device))
        self.model, self.opt, self.dataloader = accelerator.prepare(model, opt, self._train_loader())
        self.raw = accelerator.unwrap_model(self.model, keep_fp32_wrapper=False)  # float32 outside the step's autocast
        self.guard = StepGuard(accelerator, [self.raw], cfg.train.on_nonfinite, hint="lower optim.lr")
        self.val_loader = self._val_loader()
        d = cfg.data
        self.augment = JointAugment(d.augment, d.frame_size() if d.size else d.resolution, self.ignore_index, d.train_size() if d.crop else None, d.scale_jitter)
        self.aug_rng = process_stream(cfg.train.seed, accelerator.process_index, "seg_augment")
        self.best = BestKeeper(cfg.out_dir, higher_is_better=True)  # validation keeps best/ (highest mIoU)
        # What checkpoints keep besides the prepared model and optimizer.
        self.state = StateRegistry([RandomStream(self.aug_rng, "augment", "augmentation RNG state"), self.best])

    # ---- set-up -------------------------------------------------------------------------------

    def _init_from_gan(self, model: SegmentationModel) -> list[torch.nn.Parameter]:
        """Load ``init_from`` and return the parameters to freeze for the first steps."""
        if not self.cfg.init_from:
            return []
        report = transfer_from_gan(model, self.cfg.init_from, self.cfg.transfer.encoder)
        if self.acc.is_main_process:
            print("\n".join(report.lines()))
        if not self.cfg.transfer.freeze_decoder_steps:
            return []
        return [p for name, p in model.named_parameters() if name in report.loaded_keys and name.startswith("decoder.")]

    def _class_weights(self) -> torch.Tensor | None:
        if self.cfg.loss.class_weights == "none":
            return None
        weights, cached = cached_class_weights(self.data.train, len(self.class_names), self.ignore_index, self.cfg.loss.class_weight_images)
        if self.acc.is_main_process:
            print(f"median-frequency class weights{' (cached)' if cached else ''}: " + ", ".join(f"{n} {w:.3f}" for n, w in zip(self.class_names, weights.tolist())))
        return weights

    def _train_loader(self) -> DataLoader:
        cfg, n = self.cfg, len(self.data.train)  # type: ignore[arg-type]
        needed = cfg.train.batch_size * self.acc.num_processes
        if n < needed:
            raise DataError(f"{n} training images are fewer than one batch (train.batch_size={cfg.train.batch_size} x {self.acc.num_processes} processes)")
        return train_loader(self.data.train, cfg.train.batch_size, cfg.data.num_workers)

    def _val_loader(self) -> DataLoader:
        """This process's shard of the validation set, each image exactly once across processes.

        Not passed to ``accelerator.prepare``: its even-batches padding would count images twice.
        """
        shard = Subset(self.data.val, range(self.acc.process_index, len(self.data.val), self.acc.num_processes))  # type: ignore[arg-type]
        load_first_item(shard, self.cfg.data.num_workers)
        return DataLoader(shard, batch_size=self.cfg.eval.batch_size, shuffle=False, num_workers=self.cfg.data.num_workers, worker_init_fn=ignore_stop_signals, collate_fn=collate_frames)

    # ---- the step -----------------------------------------------------------------------------

    def train_step(self, batches: BatchStream, step: int) -> dict[str, float] | None:
        cfg, accum = self.cfg.train, self.cfg.train.grad_accum
        self.model.train()
        self.finetune.set_modes(step)
        sums: dict[str, torch.Tensor] = {}

        def micro_loss(micro: int, sync: bool) -> torch.Tensor:
            images, masks = self.augment.batch(*next(batches), self.aug_rng)
            with sync_context(self.acc, self.model, sync), self.acc.autocast():
                loss, parts = self.loss(self.model(images), masks)
            for key, value in parts.items():
                sums[key] = sums.get(key, 0) + value / accum
            return loss

        def before_apply() -> None:
            if step < self.cfg.transfer.freeze_decoder_steps:
                for p in self.frozen:  # no gradient -> AdamW leaves the weight (and its decay) alone
                    p.grad = None
            self.finetune.drop_grads(step)
            for group in self.opt.param_groups:  # encoder backbone and the rest (gan.seg.finetune.param_groups)
                group["lr"] = self.cfg.optim.lr * group["lr_mult"] * lr_factor(step, cfg.steps, self.cfg.optim.schedule)

        if optimizer_update(self.guard, self.opt, self.model.parameters(), accum, micro_loss, "segmentation loss", step,
                            before_apply) is None:
            return None
        return dict(sums, images=float(cfg.batch_size * accum * self.acc.num_processes))

    # ---- state and export ---------------------------------------------------------------------

    def buffer_modules(self) -> list[torch.nn.Module]:
        return [self.raw]

    def keep_if_best(self, step: int, miou: float, record: dict[str, Any]) -> bool:
        """Keep the export (with ``record`` as its metrics) in ``best/`` when ``miou`` beats every earlier one."""
        return self.best.offer(step, "miou", miou, lambda folder: self.write_export(folder, step, record))

    def write_export(self, folder: Path, step: int, metrics: dict[str, Any] | None = None) -> None:
        """Model weights + what predict needs to rebuild and use it."""
        meta = {
            "model": model_kwargs(self.cfg, len(self.class_names)), "class_names": self.class_names,
            "ignore_index": self.ignore_index, "step": step, "metrics": metrics, "config": to_dict(self.cfg),
        }
        write_export(folder, SEGMENTER, self.raw.state_dict(), meta)
