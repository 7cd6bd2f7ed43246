"""Model definitions: the shared deconvolution decoder and the networks built on it."""
from .blocks import UPSAMPLE_BUILDERS, DownBlock, UpBlock, dcgan_init
from .decoder import DeconvDecoder
from .discriminator import Discriminator
from .fusion import FUSION_MODES, SkipFusion
from .generator import Generator

__all__ = [
    "DeconvDecoder", "Discriminator", "DownBlock", "FUSION_MODES", "Generator", "SkipFusion",
    "UPSAMPLE_BUILDERS", "UpBlock", "dcgan_init",
]
