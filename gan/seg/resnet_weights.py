"""ResNet encoder weights: torchvision's ImageNet checkpoint from the torch hub cache, or a state-dict file.

Nothing is downloaded at run time: ``imagenet`` looks for torchvision's own file name (the last part
of the weights URL, e.g. ``resnet18-f37072fd.pth``) in ``torch.hub.get_dir()/checkpoints/``, where
torchvision itself caches it (``TORCH_HOME`` moves it). When absent, one line names that path and
the URL to fetch it from.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError, first_line


def imagenet_candidates(name: str) -> list[tuple[Path, str]]:
    """``(cache path, url)`` of torchvision's ImageNet weights for ``name``: DEFAULT first, then IMAGENET1K_V1."""
    from torchvision.models import get_model_weights

    enum = get_model_weights(name)
    urls = dict.fromkeys(w.url for w in (enum.DEFAULT, enum.IMAGENET1K_V1))  # ordered, without the duplicate
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return [(folder / url.rsplit("/", 1)[1], url) for url in urls]


def resolve_imagenet_weights(name: str) -> Path:
    """The cached ImageNet checkpoint of ``name``, or a one-line :class:`ConfigError` saying where to put it."""
    candidates = imagenet_candidates(name)
    for path, _ in candidates:
        if path.is_file():
            return path
    path, url = candidates[0]
    raise ConfigError(
        f"model.encoder_weights=imagenet: {name} weights not found at '{path}' (the torch hub cache; TORCH_HOME moves it): "
        f"download {url} and put it there, or set model.encoder_weights=/path/to/state_dict.pth"
    )


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A ``.safetensors`` or ``torch.save`` state dict (tensors only), as one-line errors when unreadable."""
    if not path.is_file():
        raise ConfigError(f"model.encoder_weights: file '{path}' does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated download, wrong format: name the file, not a traceback
        raise ConfigError(f"model.encoder_weights: cannot read '{path}' as a state dict ({first_line(err)})") from None
    if not isinstance(state, dict):
        raise ConfigError(f"model.encoder_weights: '{path}' holds a {type(state).__name__}, expected a state dict")
    return state


def load_resnet_weights(net: nn.Module, weights: str, name: str) -> Path:
    """Load ``imagenet`` (torch hub cache) or a state-dict file into torchvision ResNet ``net``; returns the file.

    The classifier (``fc.*``) may be missing or differ: the encoder does not use it.
    """
    path = resolve_imagenet_weights(name) if weights == "imagenet" else Path(weights).expanduser()
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith("fc.")}
    own = net.state_dict()
    missing = [k for k in own if not k.startswith("fc.") and k not in state]
    wrong = [k for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or wrong:
        what = f"missing {missing[:3]}" if missing else f"shape of '{wrong[0]}' {list(state[wrong[0]].shape)} != {list(own[wrong[0]].shape)}"
        raise ConfigError(f"model.encoder_weights '{path}' does not fit {name}: {what}")
    net.load_state_dict(state, strict=False)
    return path
