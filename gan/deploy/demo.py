"""The Gradio demo of an export: seeded sample grids, interpolation strips, segmentation overlays.

:class:`DemoModel` holds the model and the functions the app calls (tested directly); :func:`build_app`
wires them into a ``gradio.Blocks`` app whose endpoints (``/samples``, ``/new_samples``,
``/interpolate``, ``/segment``) are also reachable with ``gradio_client``; the outputs follow their
controls (change events) and example inputs fill the controls. Serving it (``--share`` included) is
:mod:`gan.deploy.serve`, shared by ``demo.py`` and a Space's ``app.py``. Runs on the CPU and imports
only torch, numpy, PIL (and matplotlib for the class palette) besides gradio. A bad input (a negative
or fractional seed, an unknown class, no image, an upload over :data:`MAX_UPLOAD_PIXELS`) is a
``gr.Error`` shown in the page, with no traceback in the terminal.
"""
from __future__ import annotations

import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..generation.grid import grid_uint8
from ..models.generate import generate, latents_for_seeds
from .source import Loaded, load_source, optional_extra

MAX_IMAGES = 64
MIN_DISPLAY = 64  # small images (16-32 px) are enlarged (nearest) to at least this size for the page
MAX_STEPS = 16
MAX_SEED = 2**63 - 1  # torch generators take seeds below 2**64; sample.py --seeds has no other bound
OVERLAY_ALPHA = 0.5  # share of the class colour in the segmentation overlay
NUM_EXAMPLES = 4  # example uploads of a segmentation demo, drawn from the embedded shapes dataset
EXAMPLES_SEED = 12345  # not the training data's seed (0): the examples are images the model has not seen
# Example inputs of a generator demo: (first seed, images); a conditional one cycles through its classes.
GENERATOR_EXAMPLES = ((0, 16), (64, 16), (1000, 4), (12345, 1))
# Uploads to a segmentation demo: refused by Gradio above this file size (launch's max_file_size), and
# by their header above this many pixels before any decoding (an 8000x8000 upload took gigabytes).
MAX_UPLOAD_SIZE = "50mb"
MAX_UPLOAD_PIXELS = 4096 * 4096
UPLOAD_LIMIT_NAME = "the demo's upload limit"


def input_error(message: str) -> Exception:
    """A ``gr.Error`` for a bad input: shown in the page, not printed as a traceback (nothing crashed)."""
    with optional_extra("gradio", "demo"):
        import gradio as gr
    return gr.Error(message, print_exception=False)


def whole_number(value: Any, name: str, low: int, high: int) -> int:
    """``value`` as an int when it is a whole number in ``low..high``, else an :func:`input_error` naming the control."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value == int(value)
    if not ok or not low <= int(value) <= high:
        raise input_error(f"{name}: got {value!r}, expected a whole number from {low} to {high}")
    return int(value)


def to_uint8_grid(images: torch.Tensor, nrow: int) -> np.ndarray:
    """Images in [-1, 1] -> one ``(H, W, 3)`` uint8 grid (grayscale repeated to RGB), tiles enlarged to >= MIN_DISPLAY px."""
    scale = max(1, -(-MIN_DISPLAY // images.shape[-1]))
    if scale > 1:
        images = F.interpolate(images, scale_factor=scale, mode="nearest")
    return grid_uint8(images, nrow)


class DemoModel:
    """A loaded export (generator or segmenter) on the CPU and what the demo does with it."""

    def __init__(self, source: str | Path | Loaded, examples_dir: str | Path | None = None) -> None:
        """``examples_dir``: a folder of example uploads (``*.png``) for a segmenter (a Space ships one);
        None: embedded-shapes images are made in a temporary folder."""
        self.loaded: Loaded = source if isinstance(source, Loaded) else load_source(source)
        self.kind = self.loaded.kind
        self.source = str(self.loaded.folder if isinstance(source, Loaded) else source)
        self.examples_dir = Path(examples_dir) if examples_dir is not None else None
        self._examples: tempfile.TemporaryDirectory | None = None  # example uploads, made on first use

    @property
    def conditional(self) -> bool:
        """A class-conditional generator (its export records ``label_names``): the app shows a class control."""
        return self.kind == "generator" and self.loaded.num_classes > 0

    def _labels(self, label: str | None, count: int) -> torch.Tensor:
        """The class index of ``label`` (None: the first class, the control's default) for ``count`` images."""
        names = self.loaded.label_names
        if label is not None and label not in names:
            raise input_error(f"class: got {label!r}, expected one of {', '.join(names)}")
        return torch.full((count,), names.index(label) if label is not None else 0, dtype=torch.long)

    def _generate(self, latents: torch.Tensor, label: str | None) -> torch.Tensor:
        labels = self._labels(label, len(latents)) if self.conditional else None
        return generate(self.loaded.model, latents, len(latents), labels=labels)

    def samples(self, seed: float, num: float, label: str | None = None) -> np.ndarray:
        """Grid of ``num`` images from seeds ``seed .. seed+num-1`` (the same seeds as ``sample.py --seeds``)."""
        num = whole_number(num, "images", 1, MAX_IMAGES)
        seed = whole_number(seed, "first seed", 0, MAX_SEED - num + 1)
        images = self._generate(latents_for_seeds(range(seed, seed + num), self.loaded.meta["model"]["nz"]), label)
        return to_uint8_grid(images, nrow=int(np.ceil(np.sqrt(num))))

    def new_samples(self, seed: float, num: float, label: str | None = None) -> tuple[int, np.ndarray]:
        """The next ``num`` unused seeds after ``seed .. seed+num-1``: ``(new first seed, grid)``."""
        num = whole_number(num, "images", 1, MAX_IMAGES)
        nxt = whole_number(seed, "first seed", 0, MAX_SEED - 2 * num + 1) + num
        return nxt, self.samples(nxt, num, label)

    def interpolate(self, seed_a: float, seed_b: float, steps: float, label: str | None = None) -> np.ndarray:
        """One row of ``steps`` images on the slerp path between the latents of two seeds."""
        from ..generation.sampling import interpolation_latents

        steps = whole_number(steps, "steps", 2, MAX_STEPS)
        ends = [whole_number(seed_a, "from seed", 0, MAX_SEED), whole_number(seed_b, "to seed", 0, MAX_SEED)]
        latents = interpolation_latents(ends, self.loaded.meta["model"]["nz"], steps)
        return to_uint8_grid(self._generate(latents, label), nrow=steps)

    @torch.no_grad()
    def segment(self, image: str | Path | np.ndarray | None) -> np.ndarray:
        """An uploaded image -> the same image with the predicted classes overlaid.

        ``image``: the uploaded file (as the app passes it, checked by :func:`read_upload`) or its
        pixels ``(H, W[, C])`` uint8.
        """
        from ..seg.overlay import class_palette, colorize
        from ..seg.predict import predict_image

        if image is None:
            raise input_error("no image: upload one or pick an example below it")
        rgb = read_upload(image) if isinstance(image, (str, Path)) else np.asarray(image)
        rgb = np.repeat(rgb[..., None], 3, axis=2) if rgb.ndim == 2 else rgb[..., :3]
        x = torch.from_numpy(rgb.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
        m = self.loaded.meta["model"]
        x = x.mean(1, keepdim=True) if m["channels"] == 1 else x
        labels = predict_image(self.loaded.model, x, m["resolution"])
        colors = colorize(labels, class_palette(self.loaded.model.num_classes), self.loaded.meta.get("ignore_index", 255))
        return ((1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * colors).round().astype(np.uint8)

    def overlay_or_clear(self, image: str | Path | np.ndarray | None) -> np.ndarray | None:
        """:meth:`segment` for the upload's change event: a cleared upload clears the overlay (no error)."""
        return None if image is None else self.segment(image)

    def example_images(self, count: int = NUM_EXAMPLES) -> list[str]:
        """The example uploads: the PNGs of ``examples_dir``, else ``count`` embedded-shapes images at the
        model's resolution, written once to a temp folder that lives as long as this object (the app serves them)."""
        if self.examples_dir is not None:
            return [str(p) for p in sorted(self.examples_dir.glob("*.png"))]
        if self._examples is None:
            self._examples = tempfile.TemporaryDirectory(prefix="gan-demo-examples-")
        return [str(p) for p in write_example_images(Path(self._examples.name), int(self.loaded.meta["model"]["resolution"]), count)]

    def generator_examples(self) -> list[list[Any]]:
        """Rows of example inputs for the generator's controls: ``[first seed, images]`` (+ a class name, in turn)."""
        names = self.loaded.label_names if self.conditional else []
        return [[seed, num, *([names[i % len(names)]] if names else [])] for i, (seed, num) in enumerate(GENERATOR_EXAMPLES)]

    def legend(self) -> str:
        """Markdown naming each class colour of a segmenter."""
        from ..seg.overlay import class_palette

        names = self.loaded.label_names or [str(i) for i in range(self.loaded.model.num_classes)]
        palette = class_palette(len(names))
        return " ".join(f"<span style='color:#{r:02x}{g:02x}{b:02x}'>&#9632;</span> {n}" for n, (r, g, b) in zip(names, palette.tolist()))


def write_example_images(folder: Path, resolution: int, count: int = NUM_EXAMPLES) -> list[Path]:
    """``count`` embedded-shapes images (seed :data:`EXAMPLES_SEED`) at ``resolution`` as ``folder/shapes-<i>.png`` (kept if present)."""
    from PIL import Image

    from ..data.shapes import render_shapes

    paths = [folder / f"shapes-{index}.png" for index in range(count)]
    for index, path in enumerate(paths):
        if not path.exists():
            Image.fromarray(render_shapes(EXAMPLES_SEED, index, resolution)[0]).save(path)
    return paths


def live(fn: Any, numbers: int) -> Any:
    """``fn`` for a control's change event: while a number box is emptied (mid-edit) the output stays as it is.

    The first ``numbers`` inputs are number controls; a bad value that is not empty is still a ``gr.Error``.
    """
    import gradio as gr

    def run(*values: Any) -> Any:
        return gr.skip() if any(v is None for v in values[:numbers]) else fn(*values)

    return run


def read_upload(path: str | Path) -> np.ndarray:
    """An uploaded file as ``(H, W, 3)`` uint8, its size checked from the header before decoding (:func:`input_error` if over)."""
    from ..data.decode import ImageTooLarge, open_image
    from ..errors import first_line

    name = Path(path).name
    try:
        return np.asarray(open_image(path, 3, MAX_UPLOAD_PIXELS, UPLOAD_LIMIT_NAME))
    except ImageTooLarge as err:
        raise input_error(f"image '{name}' is too large: {err}; upload a smaller image") from None
    except OSError as err:
        raise input_error(f"cannot read the image '{name}': {first_line(err)}") from None


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
                # the file, not its pixels: Gradio would decode any upload before segment() could check its size
                image = gr.Image(type="filepath", image_mode=None, label="image", elem_id="seg_input")
                overlay = gr.Image(type="numpy", label="overlay", format="png", elem_id="seg_overlay")
            gr.Examples([[p] for p in dm.example_images()], inputs=[image], label="example images (embedded shapes dataset)")
            gr.Markdown(dm.legend())
            gr.Button("segment", elem_id="segment").click(dm.segment, [image], overlay, api_name="segment")
            # an upload or a picked example is segmented at once; a cleared upload clears the overlay
            image.change(dm.overlay_or_clear, [image], overlay, api_name=False, trigger_mode="always_last")
            return app
        with gr.Row():
            # no minimum=: Gradio's own bound check prints a traceback; DemoModel checks the values (gr.Error)
            seed = gr.Number(value=0, precision=0, label="first seed", elem_id="seed")
            num = gr.Slider(1, MAX_IMAGES, value=16, step=1, label="images", elem_id="num")
            label = gr.Dropdown(dm.loaded.label_names, value=(dm.loaded.label_names or [None])[0], label="class",
                                visible=dm.conditional, elem_id="label")
        with gr.Row():
            generate = gr.Button("generate", elem_id="generate")
            new = gr.Button("new samples", variant="primary", elem_id="new_samples")
        grid = gr.Image(type="numpy", label="samples", format="png", elem_id="grid")
        gr.Examples(dm.generator_examples(), inputs=[seed, num, label] if dm.conditional else [seed, num],
                    label="example inputs (first seed, images" + (", class)" if dm.conditional else ")"), elem_id="examples")
        generate.click(dm.samples, [seed, num, label], grid, api_name="samples")
        # the grid follows its controls (typed, slid, or filled in by an example); always_last: no backlog while typing
        for control in (seed, num, label):
            control.change(live(dm.samples, 2), [seed, num, label], grid, api_name=False, trigger_mode="always_last")
        new.click(dm.new_samples, [seed, num, label], [seed, grid], api_name="new_samples")
        gr.Markdown("### Interpolation between two seeds")
        with gr.Row():
            seed_a = gr.Number(value=0, precision=0, label="from seed", elem_id="seed_a")
            seed_b = gr.Number(value=1, precision=0, label="to seed", elem_id="seed_b")
            steps = gr.Slider(2, MAX_STEPS, value=8, step=1, label="steps", elem_id="steps")
        strip = gr.Image(type="numpy", label="interpolation", format="png", elem_id="strip")
        gr.Button("interpolate", elem_id="interpolate").click(dm.interpolate, [seed_a, seed_b, steps, label], strip, api_name="interpolate")
        for control in (seed_a, seed_b, steps, label):  # the strip follows its controls and shows the chosen class too
            control.change(live(dm.interpolate, 3), [seed_a, seed_b, steps, label], strip, api_name=False, trigger_mode="always_last")
        app.load(dm.samples, [seed, num, label], grid, api_name=False)
        app.load(dm.interpolate, [seed_a, seed_b, steps, label], strip, api_name=False)
    return app
