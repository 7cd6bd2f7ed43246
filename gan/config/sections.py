"""Config sections shared by the jobs (each job's own sections live with the job)."""
from __future__ import annotations

import dataclasses
from typing import Literal

from ..names import (BAD_IMAGE_POLICIES, DATA_CACHE_MODES, DOWNLOAD_WEIGHTS, EVAL_METRIC_ALIASES, EVAL_METRICS, FOLDER_LABELS, IMAGE_DATASETS,
                     MIXED_PRECISION, ON_NONFINITE, SHAPES_BACKGROUNDS, SHAPES_RADIUS, TRACKERS)
from .schema import MIN_EVAL_IMAGES, Check, IntOrAuto, Section, positive, resumable, valid_cpu_threads


@dataclasses.dataclass
class DataConfig(Section):
    """Image data of GAN training and of the evaluation's real images."""

    name: Literal[IMAGE_DATASETS] = "shapes"  # type: ignore[valid-type]  # dataset: the embedded shapes, a torchvision dataset or a folder of images
    root: str = "data"  # dataset folder (image_folder) or torchvision download root
    resolution: int = 32  # output size in pixels (square); images are resized (shorter side) and centre-cropped
    channels: int = 3  # 1 = grayscale, 3 = RGB (images are converted)
    download: bool = resumable(False)  # torchvision datasets download only when this is true
    split: str = "train"  # torchvision datasets: the split to read (train / test / ...)
    labels: Literal[FOLDER_LABELS] = "none"  # type: ignore[valid-type]  # image_folder: "folders" = one subfolder per class
    lsun_classes: str = "bedroom_train"  # lsun: the category and split, e.g. bedroom_train
    shapes_size: int = 10000  # number of images in the procedural shapes dataset
    shapes_seed: int = 0  # seed of the procedural shapes (the same seed gives the same images)
    shapes_max: int = 3  # shapes per image (1..3); 1 = one shape whose class (circle, square, triangle) is the label
    shapes_background: Literal[SHAPES_BACKGROUNDS] = "textured"  # type: ignore[valid-type]  # plain: one flat colour, flat shapes
    # [min, max] circumradius of each shape as a fraction of half the image side (bigger shapes show their corners)
    shapes_radius: list[float] = dataclasses.field(default_factory=lambda: list(SHAPES_RADIUS))
    shapes_antialias: bool = False  # blend shape edges by pixel coverage (smooth edges, as a generator draws them)
    shapes_rotate: bool = True  # false: upright shapes (axis-aligned squares, triangles pointing up), fewer poses to learn
    num_workers: int = resumable(0)  # dataloader worker processes that decode uncached images
    on_bad_image: Literal[BAD_IMAGE_POLICIES] = "skip"  # type: ignore[valid-type]  # an unreadable image: skip it (reported once) or stop the run
    # Larger images (by their header) are bad images; PIL's default limit. Resumable: lowering it is how a run gets past a bad file.
    max_image_pixels: int = resumable(89_478_485)
    cache: Literal[DATA_CACHE_MODES] = resumable("auto")  # type: ignore[valid-type]  # decoded-image cache (gan/data/cache.py)
    cache_dir: str = resumable("")  # disk cache folder; "" = $XDG_CACHE_HOME/gan-toolkit/data (~/.cache/...)
    limit: int = 0  # train on a seeded subset of this many images (gan/data/limit.py); 0 = all
    limit_seed: int = 0  # which subset data.limit takes (the same for every process and run)

    def checks(self) -> list[Check]:
        return [
            ("resolution", 8 <= self.resolution <= 256, "8..256"),
            ("channels", self.channels in (1, 3), "1 or 3"),
            ("num_workers", self.num_workers >= 0, ">= 0"),
            ("shapes_size", self.shapes_size > 0, "> 0"),
            ("shapes_max", 1 <= self.shapes_max <= 3, "1..3"),
            ("shapes_radius", len(self.shapes_radius) == 2 and 0 < self.shapes_radius[0] <= self.shapes_radius[1] <= 1, "[min, max] with 0 < min <= max <= 1"),
            ("root", bool(self.root.strip()), "a folder name"),
            ("max_image_pixels", self.max_image_pixels >= 1, ">= 1"),
            ("limit", self.limit >= 0, ">= 0 (0 = all images)"),
        ]


@dataclasses.dataclass
class TrainConfig(Section):
    """The loop settings every job has."""

    steps: int = resumable(1000)  # optimizer steps of the main model (the generator for GANs)
    batch_size: int = 64  # per process, per micro-batch
    grad_accum: int = 1  # micro-batches per optimizer update (gradients summed over them)
    mixed_precision: Literal[MIXED_PRECISION] = resumable("auto")  # type: ignore[valid-type]  # auto: bf16 where the hardware has it (gan.engine.precision)
    seed: int = 0  # seed of weights, noise and data order (each process derives its own streams)
    on_nonfinite: Literal[ON_NONFINITE] = resumable("error")  # type: ignore[valid-type]  # a NaN/inf loss or gradient: stop with the step (error) or skip that update
    cpu_threads: IntOrAuto = resumable("auto")  # CPU runs: "auto" = physical cores / local processes, or a thread count
    # Multi-process runs: a collective (all-reduce, barrier) that waits longer fails instead of hanging
    # on a stalled rank. Longer than any main-process-only work (FID evaluation, export) the others wait for.
    collective_timeout_s: int = resumable(1800)

    def checks(self) -> list[Check]:
        return positive(self, "steps", "batch_size", "grad_accum", "collective_timeout_s") + [
            ("cpu_threads", valid_cpu_threads(self.cpu_threads), "'auto' or a positive integer"),
        ]


MAX_TAG_LENGTH = 64  # W&B refuses longer tags when the run starts


@dataclasses.dataclass
class LogConfig(Section):
    tracker: Literal[TRACKERS] = "wandb"  # type: ignore[valid-type]  # wandb (offline without credentials), tensorboard (needs the extra) or none
    project: str = "gan-toolkit"  # tracker project name
    every: int = 25  # steps between tracker logs and progress-bar updates of the averages
    # the run's name: W&B's run name ("" = the out_dir folder's name) and TensorBoard's events folder in out_dir ("" = log.project)
    run_name: str = ""
    tags: list[str] = dataclasses.field(default_factory=list)  # W&B run tags, e.g. [baseline, shapes]
    entity: str = ""  # W&B team or user that owns the run; "" = the logged-in account's default

    def checks(self) -> list[Check]:
        long_tags = [t for t in self.tags if not 1 <= len(str(t)) <= MAX_TAG_LENGTH]
        return positive(self, "every") + [
            ("run_name", self.run_name.strip() == self.run_name and self.run_name not in (".", "..") and not set("/\\") & set(self.run_name),
             "a name without / or \\ and without leading or trailing blanks (it names a folder in out_dir)"),
            ("tags", not long_tags, f"names of 1 to {MAX_TAG_LENGTH} characters", long_tags[0] if long_tags else None),
        ]


@dataclasses.dataclass
class CheckpointConfig(Section):
    every: int = 1000  # steps between checkpoints (one is also written at the end and on SIGTERM/SIGINT)
    keep: int = 3  # newest checkpoints kept; the last complete one is never deleted

    def checks(self) -> list[Check]:
        return [("keep", self.keep >= 2, ">= 2"), ("every", self.every >= 1, ">= 1")]


@dataclasses.dataclass
class EvalConfig(Section):
    """FID/KID/IS/PR evaluation of a generator (periodic during training, or ``evaluate.py``)."""

    every: int = 0  # 0 disables periodic evaluation
    num_samples: int = 5000  # generated images per evaluation
    metrics: list[str] = dataclasses.field(default_factory=lambda: ["fid"])  # some of fid, kid, is, prc, class_accuracy
    batch_size: int = 64  # images per generator / feature-extractor batch
    inception_weights: str = ""  # path to torch-fidelity's pt_inception weights; "" = torch hub cache
    cache_dir: str = ""  # real-statistics cache; "" = <out_dir>/../.fidelity_cache
    feature_extractor: str = "inception-v3-compat"  # inception-v3-compat (standard), torchscript (eval.feature_extractor_path) or a registered name
    feature_extractor_path: str = ""  # weights of a registered extractor (safetensors), or the TorchScript file of feature_extractor=torchscript
    num_real: int = 0  # real images compared against; 0 = the whole split
    kid_subset_size: int = 1000  # capped at the number of generated / real images
    isc_splits: int = 10  # Inception Score: splits of the generated images
    seed: int = 2020  # torch-fidelity's rng_seed: latents, KID subsets, IS shuffling, real subset
    # missing Inception weights: fetched into the torch hub cache when online (auto), always tried (true), never (false).
    # Resumable: it changes no result, and checkpoints from before "auto" stored the old default false.
    download_weights: Literal[DOWNLOAD_WEIGHTS] = resumable("auto")  # type: ignore[valid-type]
    per_class: bool = False  # conditional generators: also FID per class against that class's real images (intra-FID)
    # classifier of the class_accuracy metric, [0,1] images -> logits or (features, logits): safetensors of a registered module
    # (gan.evaluation.save_module_weights), or a TorchScript file (needs trust_torchscript)
    classifier_path: str = ""
    # load TorchScript files (feature_extractor=torchscript, a TorchScript classifier_path): runs code from the file, so only
    # for files you trust. evaluate.py ignores the value stored in a run: only its own command line sets it.
    trust_torchscript: bool = resumable(False)

    def checks(self) -> list[Check]:
        n = MIN_EVAL_IMAGES
        unknown = [m for m in self.metrics if EVAL_METRIC_ALIASES.get(m.strip().lower(), m.strip().lower()) not in EVAL_METRICS]
        return [
            ("metrics", bool(self.metrics) and not unknown, "some of " + ", ".join(EVAL_METRICS + tuple(EVAL_METRIC_ALIASES)),
             unknown[0] if unknown else self.metrics),
            ("every", self.every >= 0, ">= 0"),
            ("num_samples", self.num_samples >= n, f">= {n}"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("num_real", self.num_real == 0 or self.num_real >= n, f"0 (all) or >= {n}"),
            ("kid_subset_size", self.kid_subset_size >= n, f">= {n}"),
            ("isc_splits", self.isc_splits >= 1, ">= 1"),
            ("classifier_path", "class_accuracy" not in [m.strip().lower() for m in self.metrics] or bool(self.classifier_path.strip()),
             "a classifier file when eval.metrics has class_accuracy"),
        ]


@dataclasses.dataclass
class RunConfig(Section):
    """Top-level keys of every job: where the run lives and how it starts."""

    out_dir: str = resumable("runs/default")  # run folder: config, metrics, samples, checkpoints, exports
    resume: str = resumable("")  # "", "latest" or a checkpoint folder
    overwrite: bool = resumable(False)  # a fresh run into an out_dir holding another run's outputs deletes them first

    def checks(self) -> list[Check]:
        return [
            ("out_dir", bool(self.out_dir.strip()), "a folder name (it must not be empty)"),
            ("overwrite", not (self.overwrite and self.resume),
             f"false with resume='{self.resume}' (overwrite=true deletes the run in out_dir, resume continues it: set only one)"),
        ]


