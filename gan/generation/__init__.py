"""GAN training and sampling: config, the adversarial step (``run_G``/``run_D``), the task, sampling."""
from .config import GANConfig, load_gan_config

__all__ = ["GANConfig", "load_gan_config"]
