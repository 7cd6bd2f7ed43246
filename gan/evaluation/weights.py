"""Locating, checking, fetching and fingerprinting feature-extractor weights.

torch-fidelity downloads the InceptionV3 weights on first use. Offline that download fails
with a long traceback or hangs, so we resolve the file ourselves first: an explicit path, else
the torch hub cache (``$TORCH_HOME/hub/checkpoints``). A missing hub copy is downloaded there
when ``eval.download_weights`` allows it (``auto``: only when online), otherwise a one-line
:class:`MissingWeightsError` names the file, where to put it and its URL.
"""
from __future__ import annotations

import socket
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

from ..errors import ConfigError, first_line
from ..names import DOWNLOAD_WEIGHTS
from ..offline import offline_variable

INCEPTION_URL: str = URL_INCEPTION_V3  # the file torch-fidelity itself would fetch
INCEPTION_FILE = INCEPTION_URL.rsplit("/", 1)[1]
INCEPTION_FC_SHAPE = (1008, 2048)  # the TF 2015 graph's classifier: how we recognise the right file
DOWNLOAD_TIMEOUT_S = 60
PROBE_TIMEOUT_S = 5  # how long "auto" waits for the weights' host before calling the machine offline
AUTO, ALWAYS, NEVER = DOWNLOAD_WEIGHTS


class EvalError(ConfigError):
    """An evaluation problem, reported to the user as one line (a ConfigError, so CLIs catch it)."""


class MissingWeightsError(EvalError):
    """Feature-extractor weights that are needed but absent."""


def hub_weights_path() -> Path:
    """Where torch hub (and so torch-fidelity) caches the Inception weights; honours TORCH_HOME."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def _missing(where: Path, key_hint: str, why: str = "", hint_download: bool = True) -> MissingWeightsError:
    alternatives = f"eval.inception_weights=/path/to/{INCEPTION_FILE}" + (", or eval.download_weights=true when online" if hint_download else "")
    return MissingWeightsError(
        f"Inception weights not found at '{where}'{key_hint}{why}: download {INCEPTION_URL} and put it there (or set {alternatives})"
    )


def host_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> str:
    """'' when a TCP connection to ``url``'s host (or its proxy, e.g. ``HTTPS_PROXY``) opens within ``timeout`` s, else why not."""
    parsed = urlparse(url)
    proxy = urllib.request.getproxies().get(parsed.scheme, "")
    if proxy and not urllib.request.proxy_bypass(parsed.hostname or ""):
        parsed = urlparse(proxy if "://" in proxy else f"http://{proxy}")  # urllib downloads through it
    host, port = parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:  # no DNS, no route, refused, timed out
        return f"{host} is not reachable: {first_line(err)}"
    return ""


def offline_reason(url: str = INCEPTION_URL) -> str:
    """Why ``url`` cannot be downloaded now ('' when it can): an offline variable is set, or its host does not answer."""
    return offline_variable() or host_reachable(url)


def _download(url: str, dest: Path) -> None:
    """Fetch ``url`` into ``dest`` with a socket timeout, so that no network means an error, not a hang."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    print(f"downloading {url} to '{dest}' (once; eval.download_weights=false never downloads)", file=sys.stderr)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        # writes a temp file next to dest and renames it: an interrupted download leaves no partial weights
        torch.hub.download_url_to_file(url, str(dest), progress=True)
    except Exception as err:  # URLError, timeouts, HTTP errors: all mean "not available"
        first = first_line(err)
        raise MissingWeightsError(f"could not download {url} to '{dest}' ({first}); put the file there by hand") from None
    finally:
        socket.setdefaulttimeout(previous)


def download_mode(download: bool | str) -> str:
    """``eval.download_weights`` as one of DOWNLOAD_WEIGHTS (a bool from code means true/false)."""
    mode = (ALWAYS if download else NEVER) if isinstance(download, bool) else str(download).strip().lower()
    if mode not in DOWNLOAD_WEIGHTS:
        raise EvalError(f"eval.download_weights: got {download!r}, expected one of {', '.join(DOWNLOAD_WEIGHTS)}")
    return mode


def resolve_inception_weights(path: str = "", download: bool | str = AUTO) -> Path:
    """The Inception weights file to use: ``path`` if given, else the torch hub cache copy.

    A missing hub copy is downloaded when ``download`` is ``true``, or ``auto`` and the machine is
    online (no offline variable, the host answers); otherwise a one-line :class:`MissingWeightsError`.
    """
    mode = download_mode(download)
    if path:
        found = Path(path).expanduser()
        if not found.is_file():
            raise _missing(found, " (eval.inception_weights)")
        return found.resolve()
    cached = hub_weights_path()
    if not cached.is_file():
        where = " (the torch hub cache; TORCH_HOME moves it)"
        if mode == NEVER:
            raise _missing(cached, where)
        why = offline_reason() if mode == AUTO else ""
        if why:
            raise _missing(cached, where, f", and it cannot be downloaded ({why})", hint_download=False)
        _download(INCEPTION_URL, cached)
    return cached.resolve()


def _load_tensors(path: Path) -> object:
    """``torch.load(weights_only=True)``, memory-mapped when the file allows (only fc.weight is read)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as err:
        if "mmap" not in str(err):  # legacy (non-zip) torch files cannot be mapped; read them whole
            raise
        return torch.load(path, map_location="cpu", weights_only=True)


def check_inception_state_dict(path: Path) -> None:
    """Refuse files that are not a plain InceptionV3 state dict, with one line.

    Loading with ``weights_only=True`` first also means torch-fidelity's own (unrestricted) load of
    the same bytes can only rebuild tensors, never run arbitrary pickled code.
    """
    try:
        state = _load_tensors(path)
    except Exception as err:  # torch's own messages here are long and about pickling, not the file
        raise EvalError(f"'{path}' is not a readable weights file ({type(err).__name__}); expected torch-fidelity's InceptionV3 state dict") from None
    fc = state.get("fc.weight") if isinstance(state, dict) else None
    if fc is None or tuple(fc.shape) != INCEPTION_FC_SHAPE:
        raise EvalError(f"'{path}' is not torch-fidelity InceptionV3 weights (expected fc.weight of shape {INCEPTION_FC_SHAPE})")


def write_random_inception_weights(path: str | Path, seed: int = 0) -> Path:
    """Write a randomly initialised InceptionV3 in torch-fidelity's weights format.

    For tests and throughput benchmarks only: the scores it gives are meaningless. Convolutions
    get He initialisation so features stay O(1) through the 90-odd layers (PyTorch's default
    init shrinks them to ~1e-8, which makes covariances degenerate).
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class RandomInception(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # keep the random init
            return None

    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.pth"
        torch.save({}, empty)
        model = RandomInception("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
    torch.nn.init.normal_(model.fc.weight, std=INCEPTION_FC_SHAPE[1] ** -0.5)
    torch.nn.init.zeros_(model.fc.bias)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path
