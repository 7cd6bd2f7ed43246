"""The Gradio demo of an export: seeded sample grids, interpolation strips, segmentation overlays.

:class:`DemoModel` holds the model and the functions the app calls (tested directly); :func:`build_app`
wires them into a ``gradio.Blocks`` app whose endpoints (``/samples``, ``/new_samples``,
``/interpolate``, ``/segment``) are also reachable with ``gradio_client``. Runs on the CPU and imports
only torch, numpy, PIL (and matplotlib for the class palette) besides gradio.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..generation.grid import grid_uint8
from .source import Loaded, load_source, optional_extra

MAX_IMAGES = 64
MIN_DISPLAY = 64  # small images (16-32 px) are enlarged (nearest) to at least this size for the page
MAX_STEPS = 16
OVERLAY_ALPHA = 0.5  # share of the class colour in the segmentation overlay


def to_uint8_grid(images: torch.Tensor, nrow: int) -> np.ndarray:
    """Images in [-1, 1] -> one ``(H, W, 3)`` uint8 grid (grayscale repeated to RGB), tiles enlarged to >= MIN_DISPLAY px."""
    scale = max(1, -(-MIN_DISPLAY // images.shape[-1]))
    if scale > 1:
        images = F.interpolate(images, scale_factor=scale, mode="nearest")
    return grid_uint8(images, nrow)


class DemoModel:
    """A loaded export (generator or segmenter) on the CPU and what the demo does with it."""

    def __init__(self, source: str | Path | Loaded) -> None:
        self.loaded: Loaded = source if isinstance(source, Loaded) else load_source(source)
        self.kind = self.loaded.kind
        self.source = str(self.loaded.folder if isinstance(source, Loaded) else source)

    @property
    def conditional(self) -> bool:
        """A class-conditional generator (its export records ``label_names``): the app shows a class control."""
        return self.kind == "generator" and self.loaded.num_classes > 0

    def _labels(self, label: str | None, count: int) -> torch.Tensor:
        names = self.loaded.label_names
        index = names.index(label) if label in names else 0
        return torch.full((count,), index, dtype=torch.long)

    @torch.no_grad()
    def _generate(self, latents: torch.Tensor, label: str | None) -> torch.Tensor:
        if self.conditional:
            return self.loaded.model(latents, self._labels(label, len(latents)))
        return self.loaded.model(latents)

    def samples(self, seed: float, num: float, label: str | None = None) -> np.ndarray:
        """Grid of ``num`` images from seeds ``seed .. seed+num-1`` (the same seeds as ``sample.py --seeds``)."""
        from ..generation.sampling import latents_for_seeds

        seed, num = max(0, int(seed)), min(max(1, int(num)), MAX_IMAGES)
        images = self._generate(latents_for_seeds(range(seed, seed + num), self.loaded.meta["model"]["nz"]), label)
        return to_uint8_grid(images, nrow=int(np.ceil(np.sqrt(num))))

    def new_samples(self, seed: float, num: float, label: str | None = None) -> tuple[int, np.ndarray]:
        """The next ``num`` unused seeds after ``seed .. seed+num-1``: ``(new first seed, grid)``."""
        nxt = max(0, int(seed)) + min(max(1, int(num)), MAX_IMAGES)
        return nxt, self.samples(nxt, num, label)

    def interpolate(self, seed_a: float, seed_b: float, steps: float, label: str | None = None) -> np.ndarray:
        """One row of ``steps`` images on the slerp path between the latents of two seeds."""
        from ..generation.sampling import interpolation_latents

        steps = min(max(2, int(steps)), MAX_STEPS)
        latents = interpolation_latents([max(0, int(seed_a)), max(0, int(seed_b))], self.loaded.meta["model"]["nz"], steps)
        return to_uint8_grid(self._generate(latents, label), nrow=steps)

    @torch.no_grad()
    def segment(self, image: np.ndarray) -> np.ndarray:
        """An uploaded image ``(H, W[, C])`` uint8 -> the same image with the predicted classes overlaid."""
        from ..seg.overlay import class_palette, colorize
        from ..seg.predict import predict_image

        if image is None:
            raise ValueError("no image given")
        rgb = np.asarray(image)
        rgb = np.repeat(rgb[..., None], 3, axis=2) if rgb.ndim == 2 else rgb[..., :3]
        x = torch.from_numpy(rgb.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
        m = self.loaded.meta["model"]
        x = x.mean(1, keepdim=True) if m["channels"] == 1 else x
        labels = predict_image(self.loaded.model, x, m["resolution"])
        colors = colorize(labels, class_palette(self.loaded.model.num_classes), self.loaded.meta.get("ignore_index", 255))
        return ((1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * colors).round().astype(np.uint8)

    def legend(self) -> str:
        """Markdown naming each class colour of a segmenter."""
        from ..seg.overlay import class_palette

        names = self.loaded.label_names or [str(i) for i in range(self.loaded.model.num_classes)]
        palette = class_palette(len(names))
        return " ".join(f"<span style='color:#{r:02x}{g:02x}{b:02x}'>&#9632;</span> {n}" for n, (r, g, b) in zip(names, palette.tolist()))


def build_app(dm: DemoModel) -> Any:
    """The ``gradio.Blocks`` app for ``dm`` (not launched)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # never phone home
    with optional_extra("gradio", "demo"):
        import gradio as gr
    meta = dm.loaded.meta
    title = f"gan-toolkit {dm.kind}: {meta.get('config', {}).get('data', {}).get('name', '?')}, step {meta.get('step')}"
    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f"## {title}\nSource: `{dm.source}` (CPU)")
        if dm.kind == "segmenter":
            with gr.Row():
                image = gr.Image(type="numpy", label="image", elem_id="seg_input")
                overlay = gr.Image(type="numpy", label="overlay", format="png", elem_id="seg_overlay")
            gr.Markdown(dm.legend())
            gr.Button("segment", elem_id="segment").click(dm.segment, [image], overlay, api_name="segment")
            return app
        with gr.Row():
            seed = gr.Number(value=0, precision=0, minimum=0, label="first seed", elem_id="seed")
            num = gr.Slider(1, MAX_IMAGES, value=16, step=1, label="images", elem_id="num")
            label = gr.Dropdown(dm.loaded.label_names, value=(dm.loaded.label_names or [None])[0], label="class",
                                visible=dm.conditional, elem_id="label")
        with gr.Row():
            generate = gr.Button("generate", elem_id="generate")
            new = gr.Button("new samples", variant="primary", elem_id="new_samples")
        grid = gr.Image(type="numpy", label="samples", format="png", elem_id="grid")
        generate.click(dm.samples, [seed, num, label], grid, api_name="samples")
        new.click(dm.new_samples, [seed, num, label], [seed, grid], api_name="new_samples")
        gr.Markdown("### Interpolation between two seeds")
        with gr.Row():
            seed_a = gr.Number(value=0, precision=0, minimum=0, label="from seed", elem_id="seed_a")
            seed_b = gr.Number(value=1, precision=0, minimum=0, label="to seed", elem_id="seed_b")
            steps = gr.Slider(2, MAX_STEPS, value=8, step=1, label="steps", elem_id="steps")
        strip = gr.Image(type="numpy", label="interpolation", format="png", elem_id="strip")
        gr.Button("interpolate", elem_id="interpolate").click(dm.interpolate, [seed_a, seed_b, steps, label], strip, api_name="interpolate")
        app.load(dm.samples, [seed, num, label], grid, api_name=False)
    return app
