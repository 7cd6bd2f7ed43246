"""Whether the user switched the network off: huggingface_hub's offline variables, read without importing it (torch-free)."""
from __future__ import annotations

import os

# huggingface_hub's offline switches (it reads TRANSFORMERS_OFFLINE too): a user who set one wants no downloads
OFFLINE_ENV_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
TRUE_WORDS = ("1", "ON", "YES", "TRUE")


def offline_variable() -> str:
    """``"HF_HUB_OFFLINE=1 is set"`` when an offline variable is on, else ``""``."""
    for var in OFFLINE_ENV_VARS:
        if os.environ.get(var, "").strip().upper() in TRUE_WORDS:
            return f"{var}={os.environ[var]} is set"
    return ""
