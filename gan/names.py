"""Every list of choices the toolkit accepts, and the size limits of models, in one torch-free module.

The config schemas (``Literal`` types and validators) and the implementations (registries of
builders) both read these tuples; ``tests/test_names.py`` checks that every name has an
implementation and every implementation a name. The config's range checks and the export reader
(:mod:`gan.formats.exports`) read the same size limits.
"""
from __future__ import annotations

# Image datasets of GAN training (gan.data.images.DATASET_BUILDERS).
IMAGE_DATASETS = ("shapes", "mnist", "fashion_mnist", "cifar10", "celeba", "lsun", "image_folder")
# Where labels of an image folder come from: none, or one subfolder per class.
FOLDER_LABELS = ("none", "folders")
BAD_IMAGE_POLICIES = ("skip", "error")
# Backgrounds of the procedural shapes (gan.data.shapes.BACKGROUNDS).
SHAPES_BACKGROUNDS = ("textured", "plain")
SHAPES_RADIUS = (0.3, 0.6)  # default shape size (data.shapes_radius): circumradius range, fraction of half the image side
# Decoded-image cache of image folders and torchvision datasets (gan.data.cache).
DATA_CACHE_MODES = ("auto", "memory", "disk", "none")

# Models (gan.models.blocks.UPSAMPLE_BUILDERS, NORMS).
UPSAMPLE_MODES = ("transposed", "resize_conv", "pixel_shuffle")
G_NORMS = ("batch", "none")
D_NORMS = ("batch", "spectral", "none")
# Class conditioning of G (model.g_cond) and D (model.d_cond) (gan.models.conditioning.G_CONDITIONINGS, D_CONDITIONINGS).
G_CONDITIONINGS = ("embed", "cbn")
D_CONDITIONINGS = ("projection", "none")

# Adversarial losses (gan.generation.losses.LOSSES).
GAN_LOSSES = ("nonsaturating", "hinge", "wgan_gp", "lsgan", "rpgan")
# Differentiable augmentations of D's inputs, in application order (gan.generation.augment.AUGMENT_OPS).
GAN_AUGMENTATIONS = ("color", "translation", "cutout")

# Training.
MIXED_PRECISION = ("auto", "no", "fp16", "bf16")
CHANNELS_LAST = ("auto", "true", "false")  # auto: NHWC where measured faster (gan.generation.task.use_channels_last)
ON_NONFINITE = ("error", "skip")
TRACKERS = ("wandb", "tensorboard", "none")

# Evaluation metrics (gan.evaluation.metrics.METRICS) and the other names they may be given by.
EVAL_METRICS = ("fid", "kid", "is", "prc", "class_accuracy")
EVAL_METRIC_ALIASES = {"isc": "is", "inception_score": "is", "pr": "prc", "precision_recall": "prc"}
# eval.download_weights: auto = fetch missing Inception weights when online (gan.evaluation.weights.resolve_inception_weights)
DOWNLOAD_WEIGHTS = ("auto", "true", "false")

# Segmentation (gan.seg.data.SEG_DATASET_BUILDERS, gan.models.fusion, gan.seg.encoders.ENCODERS,
# gan.seg.transforms.AUGMENT_OPS).
SEG_DATASETS = ("shapes", "pairs", "voc", "camvid")
FUSION_MODES = ("none", "add", "average", "weighted", "concat")
SEG_ENCODERS = ("conv", "resnet18", "resnet34", "resnet50")  # built in; any timm model name is accepted too (gan.seg.timm_encoder)
SEG_ENCODER_BN = ("auto", "train", "frozen")  # model.encoder_bn (gan.seg.finetune.resolve_bn_mode)
SEG_AUGMENTATIONS = ("hflip", "vflip", "rot90", "rotate", "crop", "color")
SEG_CLASS_WEIGHTS = ("none", "median_frequency")
SEG_EVAL_SPLITS = ("val", "test")  # camvid: gan.seg.data.CAMVID_SPLITS other than train
LR_SCHEDULES = ("constant", "cosine")

# export.py --format (runtime formats: gan.formats.RUNTIME_SUFFIXES; the rest: gan.deploy; space: gan.deploy.space).
EXPORT_FORMATS = ("onnx", "torchscript", "safetensors", "hub", "space")
EXPORT_ATOL = 1e-3  # export.py --atol: outputs are tanh images / logits of order 1; float32 graph rewrites stay ~1e-6
# export.py --license of a hub folder's model card: MIT, permissive like most Hub models; the quick start's data is
# procedural (no third-party terms). Weights trained on data under other terms need --license (e.g. other).
EXPORT_LICENSE = "mit"

# Hugging Face Hub metadata of the toolkit's models (gan.models.pretrained: the model classes; gan.deploy.card).
HUB_LIBRARY = "gan-toolkit"  # the model cards' library_name
HUB_TAGS = ("gan-toolkit", "pytorch", "safetensors")  # tags of every model card; each model class adds its own
UNCONDITIONAL_TASK, SEGMENTATION_TASK = "unconditional-image-generation", "image-segmentation"  # Hub pipeline tags
# The Hub has no task that takes a class label: a class-conditional generator's card has no pipeline_tag, this tag,
# and this task type for its evaluation results.
CONDITIONAL_TAG = "class-conditional-image-generation"
# Size limits of models: the config's range checks and the export reader's checks before a model is allocated.
MAX_CHANNELS = 2048  # BigGAN-sized stages at most; catches typos that would allocate tens of GB
MAX_LATENT = 4096
MAX_CLASSES = 100_000  # model.num_classes
MODEL_ARG_LIMITS = {"nz": MAX_LATENT, "ngf": MAX_CHANNELS, "ndf": MAX_CHANNELS, "max_channels": MAX_CHANNELS,
                    "channels": 4, "resolution": 4096, "num_classes": MAX_CLASSES}
MODEL_ARG_FLOORS = {"num_classes": 0}  # an unconditional generator records num_classes 0; every other argument is >= 1
