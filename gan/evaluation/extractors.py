"""Feature extractors: torch-fidelity's InceptionV3, or a user's own network for domains it judges poorly.

A custom extractor is any module mapping float images ``(N, 3, H, W)`` in [0, 1] at the dataset
resolution (grayscale repeated to 3 channels; take ``x[:, :1]`` for 1-channel nets) to features
``(N, D)``, or to a tuple ``(features, logits)`` when the Inception Score is wanted too. It comes
either from Python as a class/factory plus a state dict (:func:`register_module_extractor`), or as a
TorchScript file (``eval.feature_extractor=torchscript``, ``eval.feature_extractor_path``). Both are
registered with torch-fidelity's ``register_feature_extractor``, so its metrics and caching apply.

A TorchScript file is a program: loading and calling it runs whatever code it holds (it can write
files). It is loaded only with ``eval.trust_torchscript=true``; otherwise one line refuses it before
``torch.jit.load`` sees a byte. A state dict (safetensors) only fills the tensors of a class that was
registered in Python, so it needs no trust.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch_fidelity import FeatureExtractorBase, register_feature_extractor
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from ..formats import save_safetensors_atomic
from ..errors import first_line
from ..wheel_files import file_sha256
from . import bundled
from .weights import (ALWAYS, AUTO, INCEPTION_FILE, EvalError, MissingWeightsError, check_inception_state_dict, download_mode,
                      hub_weights_path, resolve_inception_weights)

INCEPTION = "inception-v3-compat"
TORCHSCRIPT = "torchscript"
FEATURES, LOGITS = "features", "logits"
TRUST_KEY = "eval.trust_torchscript"
MODULE_METADATA_KEY = "gan_toolkit_module"  # safetensors metadata: the registered name whose class the weights fill
_MODULE_EXTRACTORS: dict[str, str] = {}  # name -> "module.Class" of the factory, for the protocol
_MODULE_BUILDS: dict[str, Callable[[], nn.Module]] = {}  # name -> the factory itself


@dataclass(frozen=True)
class ExtractorSpec:
    """What torch-fidelity is told to use, and what the protocol and the cache key record."""

    name: str  # name registered with torch-fidelity
    kind: str  # inception-v3-compat / torchscript / module
    weights: Path | None
    sha256: str
    network: str = ""  # for the protocol: which network the weights are (the bundled fallback names its source)
    source_sha256: str = ""  # the bundled file the weights were converted from

    def layer(self, flag: str) -> str:
        """The feature layer torch-fidelity uses for metric ``flag`` (fid, kid, isc, prc)."""
        return FEATURE_EXTRACTORS_REGISTRY[self.name].get_default_feature_layer_for_metric(flag)


def _split_output(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    if torch.is_tensor(out):
        return out, None
    if isinstance(out, (tuple, list)) and len(out) == 2 and all(torch.is_tensor(t) for t in out):
        return out[0], out[1]
    raise EvalError(f"custom feature extractor returned {type(out).__name__}; expected a tensor (N, D) or a tuple (features, logits)")


class ModuleFeatureExtractor(FeatureExtractorBase):
    """Adapts a plain ``nn.Module`` to torch-fidelity's extractor interface (uint8 in, features out)."""

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(name, features_list)
        self.net = self.load_module(feature_extractor_weights_path).eval()
        for p in self.net.parameters():  # ScriptModules have no requires_grad_()
            p.requires_grad_(False)

    def load_module(self, path: str | None) -> nn.Module:
        raise NotImplementedError

    @staticmethod
    def get_provided_features_list() -> tuple[str, str]:
        return FEATURES, LOGITS

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return LOGITS if metric == "isc" else FEATURES

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 3, 32, 32, dtype=torch.uint8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats, logits = _split_output(self.net(x.float() / 255.0))
        found = {FEATURES: feats.flatten(1), LOGITS: None if logits is None else logits.flatten(1)}
        if LOGITS in self.features_list and found[LOGITS] is None:
            raise EvalError(f"feature extractor '{self.name}' returns features only; the Inception Score needs (features, logits)")
        return tuple(found[k].float() for k in self.features_list)


class TorchScriptExtractor(ModuleFeatureExtractor):
    """A ``torch.jit.save``-d module; its file comes in as torch-fidelity's weights path."""

    def load_module(self, path: str | None) -> nn.Module:
        # Registered by resolve_extractor only after it checked eval.trust_torchscript for this very file.
        return load_torchscript(Path(path or ""), trusted=True)


def refuse_untrusted(path: Path, key: str) -> EvalError:
    """The one-line refusal of a TorchScript file loaded without ``eval.trust_torchscript=true``."""
    return EvalError(f"{key} '{path}' would be loaded as TorchScript, which runs code from the file; set {TRUST_KEY}=true "
                     "only if you trust that file (or use a safetensors state dict of a registered module)")


def load_torchscript(path: Path, key: str = "eval.feature_extractor_path", trusted: bool = False) -> torch.jit.ScriptModule:
    """A TorchScript file on the CPU, only when ``trusted`` (it runs code); one-line :class:`EvalError` naming config ``key``."""
    if not path.is_file():
        raise EvalError(f"{key} '{path}' does not exist (a TorchScript file from torch.jit.save)")
    if not trusted:
        raise refuse_untrusted(path, key)
    try:
        with warnings.catch_warnings():  # torch >= 2.10 flags TorchScript as deprecated; it still loads
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # not a TorchScript archive
        first = first_line(err)
        raise EvalError(f"{key} '{path}' is not a TorchScript file: {first[:200]}") from None


def load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a tensors-only torch file (never unpickles code)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def register_module_extractor(name: str, build: Callable[[], nn.Module]) -> str:
    """Register ``build()`` (a class or factory) as feature extractor ``name`` for ``eval.feature_extractor``.

    Its weights come from ``eval.feature_extractor_path`` (safetensors or a torch state dict), or
    none when that is empty (e.g. the factory loads them itself). Returns ``name``.
    """
    if name in FEATURE_EXTRACTORS_REGISTRY and name not in _MODULE_EXTRACTORS:
        raise EvalError(f"feature extractor name '{name}' is taken by torch-fidelity; choose another")

    def load_module(self: ModuleFeatureExtractor, path: str | None) -> nn.Module:
        net = build()
        if path:
            net.load_state_dict(load_state_dict_file(Path(path)))
        return net

    cls = type(f"ModuleExtractor_{name}", (ModuleFeatureExtractor,), {"load_module": load_module})
    FEATURE_EXTRACTORS_REGISTRY.pop(name, None)  # re-registering a module name replaces it
    register_feature_extractor(name, cls)
    _MODULE_EXTRACTORS[name] = f"{getattr(build, '__module__', '?')}.{getattr(build, '__qualname__', repr(build))}"
    _MODULE_BUILDS[name] = build
    return name


def registered_module(name: str) -> str:
    """``name`` if it was given to :func:`register_module_extractor`, else a one-line :class:`EvalError`."""
    if name not in _MODULE_BUILDS:
        known = ", ".join(_MODULE_BUILDS) or "none in this process"
        raise EvalError(f"no module is registered as '{name}' (registered: {known}); call register_module_extractor('{name}', cls) first")
    return name


def save_module_weights(module: nn.Module, path: str | Path, name: str) -> Path:
    """Write ``module``'s state dict as safetensors naming registered module ``name`` (what a state-dict classifier needs)."""
    path = Path(path)
    save_safetensors_atomic(module.state_dict(), path, metadata={MODULE_METADATA_KEY: registered_module(name)})
    return path


def load_module_weights(path: Path, key: str) -> tuple[nn.Module, str]:
    """The registered module that safetensors file ``path`` names in its metadata, with its weights; and that name.

    Only data is read: the class was registered in Python, the file fills its tensors.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            name = (f.metadata() or {}).get(MODULE_METADATA_KEY, "")
    except Exception as err:  # safetensors raises its own error type for a corrupt or foreign file
        raise EvalError(f"{key} '{path}' is not a readable safetensors file: {first_line(err)}") from None
    if not name:
        raise EvalError(f"{key} '{path}' names no module in its metadata ('{MODULE_METADATA_KEY}'); "
                        "write it with gan.evaluation.save_module_weights(net, path, name)")
    net = _MODULE_BUILDS[registered_module(name)]()
    state, expected = load_state_dict_file(path), net.state_dict()
    # load_state_dict's own error names no key on its first line
    bad = sorted(set(state) ^ set(expected)) + [k for k in state if k in expected and state[k].shape != expected[k].shape]
    if bad:
        raise EvalError(f"{key} '{path}' does not fit module '{name}': {len(bad)} missing, unexpected or misshapen key(s) "
                        f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})")
    net.load_state_dict(state)
    return net, name


def is_safetensors(path: Path) -> bool:
    """True when ``path`` starts like a safetensors file (an 8-byte header length, then the JSON header's '{')."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:] == b"{"


def _register_torchscript(path: Path) -> str:
    name = f"{TORCHSCRIPT}-{file_sha256(path)[:12]}"  # content-named: two files never share cached stats
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(name, TorchScriptExtractor)
    return name


def _optional_file(path: str, key: str) -> Path | None:
    if not path:
        return None
    found = Path(path).expanduser()
    if not found.is_file():
        raise EvalError(f"{key} '{path}' does not exist")
    return found.resolve()


def _bundled_inception() -> ExtractorSpec:
    weights = bundled.converted_weights()
    check_inception_state_dict(weights)
    return ExtractorSpec(INCEPTION, INCEPTION, weights, file_sha256(weights), bundled.NETWORK, bundled.SHA256)


def resolve_extractor(kind: str, inception_weights: str = "", extractor_path: str = "", download: bool | str = AUTO,
                      trust_torchscript: bool = False, need_logits: bool = False) -> ExtractorSpec:
    """Check that the configured extractor can be built (fetching missing Inception weights as ``download`` allows); its spec.

    Without ``eval.inception_weights`` and torch-fidelity's file in the hub cache, FID, KID and
    precision/recall use the bundled network of the ``fid`` extra (:mod:`gan.evaluation.bundled`)
    unless ``download`` is ``true``; the Inception Score (``need_logits``) needs torch-fidelity's file.
    A TorchScript extractor is loaded only with ``trust_torchscript`` (``eval.trust_torchscript``): it runs code.
    """
    if kind == INCEPTION:
        if not inception_weights and not hub_weights_path().is_file() and download_mode(download) != ALWAYS:
            if not need_logits and bundled.find_bundled() is not None:
                return _bundled_inception()
        try:
            weights = resolve_inception_weights(inception_weights, download)
        except MissingWeightsError as err:
            if need_logits:  # say why the bundled network does not do
                raise MissingWeightsError(f"the Inception Score needs torch-fidelity's {INCEPTION_FILE} (the bundled network of the "
                                          f"fid extra has no classifier): {err}") from None
            raise
        check_inception_state_dict(weights)
        return ExtractorSpec(INCEPTION, INCEPTION, weights, file_sha256(weights))
    if kind == TORCHSCRIPT:
        if not extractor_path:
            raise EvalError("eval.feature_extractor=torchscript needs eval.feature_extractor_path=<file saved by torch.jit.save>")
        path = Path(extractor_path).expanduser().resolve()
        load_torchscript(path, trusted=trust_torchscript)  # fail now, not at the first periodic evaluation
        return ExtractorSpec(_register_torchscript(path), TORCHSCRIPT, path, file_sha256(path))
    if kind in _MODULE_EXTRACTORS:
        weights = _optional_file(extractor_path, "eval.feature_extractor_path")
        return ExtractorSpec(kind, f"module:{_MODULE_EXTRACTORS[kind]}", weights, file_sha256(weights) if weights else "")
    known = ", ".join([INCEPTION, TORCHSCRIPT, *_MODULE_EXTRACTORS])
    raise EvalError(f"eval.feature_extractor: got {kind!r}, expected one of {known} (or a name given to register_module_extractor)")
