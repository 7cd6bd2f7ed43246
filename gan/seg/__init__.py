"""Segmentation on the shared DeconvDecoder, optionally fine-tuned from a trained GAN."""
from .config import SegConfig, load_seg_config
from .metrics import SegMetrics, confusion_matrix, metrics_from_confusion
from .model import SegmentationModel
from .transfer import TransferReport, transfer_from_gan

__all__ = [
    "SegConfig", "SegMetrics", "SegmentationModel", "TransferReport", "confusion_matrix", "load_seg_config",
    "metrics_from_confusion", "transfer_from_gan",
]
