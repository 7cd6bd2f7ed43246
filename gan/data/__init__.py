"""Datasets: the embedded procedural shapes, torchvision datasets and image folders."""
from .images import NO_LABEL, ImageFolder, build_image_dataset, image_of, image_transform, list_images
from .shapes import CLASS_NAMES, ShapesDataset, render_shapes

__all__ = [
    "CLASS_NAMES", "ImageFolder", "NO_LABEL", "ShapesDataset", "build_image_dataset",
    "image_of", "image_transform", "list_images", "render_shapes",
]
