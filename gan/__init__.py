"""GAN toolkit: DCGAN-style generation and decoder-transfer segmentation under Accelerate."""
__version__ = "0.1.0"
