"""Datasets: the embedded procedural shapes, torchvision datasets and image folders."""
from .images import DataError, ImageFolder, build_image_dataset, image_transform, list_images
from .shapes import CLASS_NAMES, ShapesDataset, render_shapes

__all__ = [
    "CLASS_NAMES", "DataError", "ImageFolder", "ShapesDataset", "build_image_dataset",
    "image_transform", "list_images", "render_shapes",
]
