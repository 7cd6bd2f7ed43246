"""The one sampling API (gan.models.generate): inputs from seeds and labels, images out in batches, grid defaults."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gan.models.generate import (
    GRID_CLASSES, GRID_PER_CLASS, GRID_SEEDS, cycled_labels, generate, grid_inputs, image_batches, latents_for_seeds,
    to_uint8_rgb,
)


class Painter(nn.Module):
    """Image (1, 2, 2) of value tanh(z[0]) + label / 10: the label and the latent are both visible."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls: list[int] = []

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append(len(z))
        value = torch.tanh(z[:, 0]) * self.scale + (0 if c is None else c.float() / 10)
        return value.view(-1, 1, 1, 1).expand(-1, 1, 2, 2)


def test_conditional_grid_is_a_row_per_class_with_the_same_seeds_in_every_row() -> None:
    latents, labels, nrow = grid_inputs(4, 3)
    assert nrow == GRID_PER_CLASS == 8
    assert labels.tolist() == [0] * 8 + [1] * 8 + [2] * 8
    assert torch.equal(latents[16:24], latents_for_seeds(range(8), 4)) and torch.equal(latents[:8], latents[8:16])
    assert grid_inputs(4, 25)[1].unique().tolist() == list(range(GRID_CLASSES))  # at most the first 10 classes
    # a training grid of log.num_samples=10 images: 10 // 3 = 3 seeds per class
    latents, labels, nrow = grid_inputs(4, 3, count=10)
    assert nrow == 3 and labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_unconditional_grid_is_seeds_in_a_square() -> None:
    latents, labels, nrow = grid_inputs(4, 0)
    assert labels is None and nrow is None and torch.equal(latents, latents_for_seeds(range(GRID_SEEDS), 4))
    assert len(grid_inputs(4, 0, count=5)[0]) == 5


def test_images_do_not_depend_on_the_batch_size_and_labels_stay_aligned() -> None:
    model = Painter()
    latents, labels = latents_for_seeds(range(5), 4), cycled_labels(5, 3)
    assert labels.tolist() == [0, 1, 2, 0, 1]
    one = generate(model, latents, 5, labels=labels)
    assert model.calls == [5]
    two = generate(model, latents, 2, labels=labels)
    assert model.calls == [5, 2, 2, 1] and torch.equal(one, two)
    expected = torch.tanh(latents[:, 0]) + labels.float() / 10
    assert torch.allclose(one[:, 0, 0, 0], expected)


def test_uint8_images_are_the_rgb_conversion_of_the_float_ones() -> None:
    model, latents = Painter(), latents_for_seeds([3, 7], 4)
    images = generate(model, latents, uint8=True)
    assert images.dtype == torch.uint8 and images.shape == (2, 3, 2, 2)
    assert torch.equal(images, to_uint8_rgb(generate(model, latents)))
    value = float(generate(model, latents)[0, 0, 0, 0])
    assert int(images[0, 1, 1, 1]) == round((value + 1) * 127.5)


def test_batches_are_made_when_asked_for_and_labels_must_match() -> None:
    model = Painter()
    batches = image_batches(model, latents_for_seeds(range(6), 4), batch_size=4)
    assert model.calls == []
    assert next(batches).shape[0] == 4 and model.calls == [4]
    with pytest.raises(ValueError, match="labels of shape \\(3,\\) do not match 5 latents"):
        generate(model, latents_for_seeds(range(5), 4), labels=torch.zeros(3, dtype=torch.long))
