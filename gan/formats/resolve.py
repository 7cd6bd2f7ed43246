"""What a model source names: a local folder, or a Hugging Face Hub model repo id fetched through the Hub cache.

Every script (``sample.py``, ``predict_seg.py``, ``demo.py``, ``evaluate.py``, ``export.py``) and the
models' ``from_pretrained`` go through :func:`resolve_source`. A path that exists locally always wins;
otherwise ``user/name`` (or ``user/name@revision``) is downloaded once with ``snapshot_download`` into the
Hub cache (``HF_HUB_CACHE``), and with ``HF_HUB_OFFLINE=1`` a cached repo is used as it is.
"""
from __future__ import annotations

import re
from pathlib import Path

from .layout import EVALUATION_JSON, GENERATOR, HUB_FILES, SEGMENTER
from ..errors import UserError, first_line

# user/name[@revision]: one slash, so that "runs/quickstart/export" or "my-gan" are never taken for an id.
_REPO_ID = re.compile(r"(?P<repo>[^/@\s]+/[^/@\s]+)(?:@(?P<revision>[^@\s]+))?")
# What is downloaded of a repo: the files of a hub folder or of a plain export (not, e.g., ONNX files beside them).
DOWNLOADED = [*HUB_FILES, GENERATOR.weights, GENERATOR.meta, SEGMENTER.weights, SEGMENTER.meta, EVALUATION_JSON]


class HubSourceError(UserError):
    """A repo id that could not be resolved (not found, not cached while offline, unreachable): one line."""


def parse_repo_id(text: str) -> tuple[str, str | None] | None:
    """``"user/name@rev"`` -> ``("user/name", "rev")``; None when ``text`` is no valid Hub repo id."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    match = _REPO_ID.fullmatch(text)
    if match is None:
        return None
    try:
        validate_repo_id(match["repo"])
    except HFValidationError:
        return None
    return match["repo"], match["revision"]


def resolve_source(source: str | Path, *, revision: str | None = None, cache_dir: str | Path | None = None,
                   force_download: bool = False, local_files_only: bool = False, token: str | bool | None = None) -> Path:
    """The local folder of ``source``: itself when it exists, else the Hub cache's snapshot of the repo it names.

    ``source`` that neither exists nor is a repo id is returned unchanged (the loader then says it does not
    exist). The keyword arguments are ``snapshot_download``'s; an ``@revision`` in ``source`` wins over
    ``revision``. Raises :class:`HubSourceError` (one line naming the id) when the repo cannot be had.
    """
    path = Path(source)
    parsed = None if path.exists() else parse_repo_id(str(source))
    if parsed is None:
        return path
    repo_id, at = parsed
    revision = at or revision
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    named = f"'{source}' is not a local path, and the Hub repo '{repo_id}'" + (f" at revision '{revision}'" if revision else "")
    cache = cache_dir or constants.HF_HUB_CACHE
    try:
        return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, force_download=force_download,
                                      local_files_only=local_files_only, token=token, allow_patterns=DOWNLOADED))
    except RevisionNotFoundError:
        raise HubSourceError(f"{named} does not exist (the repo has no such branch, tag or commit)") from None
    except RepositoryNotFoundError:
        raise HubSourceError(f"{named} was not found on the Hub (a private or gated repo needs `hf auth login`)") from None
    except LocalEntryNotFoundError as err:
        if constants.HF_HUB_OFFLINE or local_files_only:
            raise HubSourceError(f"{named} is not in the Hub cache ({cache}), and HF_HUB_OFFLINE is set: nothing is downloaded") from None
        cause = err.__cause__ or err  # the connection error behind huggingface_hub's multi-line message
        raise HubSourceError(f"{named} is not in the Hub cache ({cache}) and could not be downloaded ({type(cause).__name__}: "
                             f"{first_line(cause)})") from None
    except Exception as err:  # network, auth or cache errors: all end the same way, in one line
        raise HubSourceError(f"{named} could not be fetched: {first_line(err)}") from None
