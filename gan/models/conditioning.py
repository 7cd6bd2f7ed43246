"""Class conditioning and self-attention modules for the generator and discriminator.

- ``embed`` (G): the latent multiplied element-wise by a learned class embedding of size ``nz`` (as in
  the reference ACGAN implementations). Concatenating the embedding instead gives G a path that does
  not involve ``z``; trained on MNIST, G then made one image per class whatever ``z`` (``docs/benchmarks.md``,
  "Before this fix"). Every input of the product is proportional to ``z``, so that cannot happen.
- ``cbn`` (G): conditional BatchNorm in the decoder stages, BigGAN-style: the stage's BatchNorm is
  swapped for one without its own affine, and ``gamma = 1 + W_g e``, ``beta = W_b e`` come from a
  shared class embedding ``e`` through one linear map per stage. (Per-class gamma/beta tables, each
  entry moved only by its own class's samples, learned the class too slowly on MNIST: same section.)
- ``projection`` (D): Miyato & Koyama 2018, ``logit = out(h) + <embed(c), sum_xy h>``.
- :class:`SelfAttention2d`: the SAGAN block (Zhang et al. 2019), put into a block's ``extra`` slot.

The cbn stages keep exactly the keys of a plain stage's conv and BatchNorm statistics (the class
embedding and maps live outside ``decoder.stages``), so a conditional generator's decoder still
transfers to the segmentation decoder.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
from torch import nn
from torch.nn.utils import spectral_norm

Tensor = torch.Tensor


def check_labels(c: Tensor | None, num_classes: int, batch: int, who: str) -> None:
    """Raise ``ValueError`` unless ``c`` fits a model of ``num_classes`` classes (0 = unconditional) and a batch of ``batch``."""
    if num_classes == 0:
        if c is not None:
            raise ValueError(f"{who} is unconditional (num_classes=0) but got class labels c; call it without c")
        return
    expected = f"c, a LongTensor ({batch},) of class indices in 0..{num_classes - 1}"
    if c is None:
        raise ValueError(f"{who} is conditional on {num_classes} classes: pass {expected}")
    if c.dim() != 1 or c.shape[0] != batch or c.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{who} expects {expected}, got {c.dtype} of shape {tuple(c.shape)}")
    # The value check reads the labels back (a graph break under torch.compile, whose training-step labels are in range by construction).
    if batch and not torch.compiler.is_compiling() and (int(c.min()) < 0 or int(c.max()) >= num_classes):
        raise ValueError(f"{who} expects {expected}, got labels {int(c.min())}..{int(c.max())}")


class LatentClassEmbedding(nn.Module):
    """``embed`` conditioning: ``z * embed(c)``, element-wise (the projection still takes ``nz`` channels)."""

    def __init__(self, num_classes: int, nz: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, nz)  # N(0, 1) init: the product keeps the latent's scale

    def forward(self, z: Tensor, c: Tensor) -> Tensor:
        """``z`` (N, nz, 1, 1) -> (N, nz, 1, 1)."""
        return z * self.embed(c).to(z.dtype)[:, :, None, None]


class ClassContext:
    """The per-stage class (gamma, beta) of the forward pass under way, read by :class:`ConditionalBatchNorm2d`.

    A plain object, not a module: it adds no state-dict keys. The generator sets it around its
    decoder call only.
    """

    def __init__(self) -> None:
        self.affine: list[tuple[Tensor, Tensor]] | None = None

    @contextlib.contextmanager
    def given(self, affine: list[tuple[Tensor, Tensor]]) -> Iterator[None]:
        self.affine = affine
        try:
            yield
        finally:
            self.affine = None


class ConditionalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm without its own affine, scaled and shifted by stage ``index`` of ``context``'s class gamma/beta.

    Its state-dict keys are those of a plain BatchNorm's statistics (``running_mean``, ``running_var``,
    ``num_batches_tracked``).
    """

    def __init__(self, num_features: int, context: ClassContext, index: int) -> None:
        super().__init__(num_features, affine=False)
        self.context, self.index = context, index

    def forward(self, x: Tensor) -> Tensor:
        if self.context.affine is None:
            raise RuntimeError("ConditionalBatchNorm2d needs class labels: call the generator that owns it with c")
        gamma, beta = self.context.affine[self.index]
        return super().forward(x) * gamma[:, :, None, None].to(x.dtype) + beta[:, :, None, None].to(x.dtype)


class ClassAffine(nn.Module):
    """``cbn`` conditioning: ``gamma = 1 + W_g e``, ``beta = W_b e`` per stage of ``widths`` channels, ``e = embed(c)``.

    ``embed`` is N(0, 1) (``embed_dim`` wide, shared by all stages); the maps have no bias and get the
    generator's N(0, 0.02) init, so gamma starts near 1 and beta near 0.
    """

    def __init__(self, num_classes: int, widths: Sequence[int], embed_dim: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.gamma = nn.ModuleList(nn.Linear(embed_dim, w, bias=False) for w in widths)
        self.beta = nn.ModuleList(nn.Linear(embed_dim, w, bias=False) for w in widths)

    def forward(self, c: Tensor) -> list[tuple[Tensor, Tensor]]:
        e = self.embed(c)
        return [(1 + g(e), b(e)) for g, b in zip(self.gamma, self.beta)]

    def swap_norms(self, stages: Sequence[nn.Module], context: ClassContext) -> None:
        """Replace each stage's ``norm`` by a :class:`ConditionalBatchNorm2d` reading ``context``."""
        for i, (stage, g) in enumerate(zip(stages, self.gamma)):
            stage.norm = ConditionalBatchNorm2d(g.out_features, context, i)


class ClassProjection(nn.Module):
    """``projection`` conditioning of D: ``<embed(c), sum over positions of h>`` per image."""

    def __init__(self, num_classes: int, channels: int, spectral: bool = False) -> None:
        super().__init__()
        embed = nn.Embedding(num_classes, channels)
        nn.init.xavier_uniform_(embed.weight)  # as Miyato & Koyama's reference code
        self.embed = spectral_norm(embed) if spectral else embed

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        """``h`` (N, C, H, W) features of D's last block -> (N,) projection term."""
        return (self.embed(c).to(h.dtype) * h.sum(dim=(2, 3))).sum(dim=1)


class SelfAttention2d(nn.Module):
    """SAGAN self-attention: ``x + gamma * attention(x)``, with 1x1 query/key of C/8 channels and gamma init 0."""

    def __init__(self, channels: int, spectral: bool = False) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        wrap = spectral_norm if spectral else (lambda m: m)
        self.query, self.key = wrap(nn.Conv2d(channels, inner, 1)), wrap(nn.Conv2d(channels, inner, 1))
        self.value = wrap(nn.Conv2d(channels, channels, 1))
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        n, ch, h, w = x.shape
        q = self.query(x).flatten(2)  # (N, C/8, HW)
        k = self.key(x).flatten(2)
        attn = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (N, HW query, HW key): softmax over positions
        o = (self.value(x).flatten(2) @ attn.transpose(1, 2)).view(n, ch, h, w)
        return x + self.gamma * o


def insert_attention(blocks: Sequence[nn.Module], resolutions: Sequence[int], channels: Sequence[int],
                     wanted: Sequence[int], spectral: bool, who: str) -> None:
    """Put a :class:`SelfAttention2d` into the ``extra`` slot of each block whose output resolution is in ``wanted``."""
    bad = sorted(set(wanted) - set(resolutions))
    if bad:
        valid = ", ".join(map(str, sorted(resolutions))) or "none"
        raise ValueError(f"{who} has no stage with output resolution {bad[0]} for attention; valid: {valid}")
    for block, res, ch in zip(blocks, resolutions, channels):
        if res in wanted:
            block.extra = SelfAttention2d(ch, spectral)


# One entry per name of gan.names.G_CONDITIONINGS / D_CONDITIONINGS (None: no module).
G_CONDITIONINGS: dict[str, type[nn.Module]] = {"embed": LatentClassEmbedding, "cbn": ClassAffine}
D_CONDITIONINGS: dict[str, type[nn.Module] | None] = {"projection": ClassProjection, "none": None}


def check_cond(cond: str, choices: Sequence[str], num_classes: int, who: str) -> None:
    """Raise ``ValueError`` for an unknown ``cond`` or a conditioning without classes."""
    if cond != "none" and cond not in choices:
        raise ValueError(f"{who} cond {cond!r} is not one of none, {', '.join(c for c in choices if c != 'none')}")
    if num_classes < 0 or (cond != "none" and num_classes == 0):
        raise ValueError(f"{who} cond={cond!r} needs num_classes >= 1, got {num_classes}")
