"""Serving the demo app until stopped: the one launcher of ``demo.py`` and of a Space's ``app.py``.

``--share`` asks Gradio for a temporary public link through its share servers. Gradio prints a
multi-line note and goes on serving locally when that fails; here it is one error line and exit
code 2 instead, since the user asked for a link. With an offline variable set (``HF_HUB_OFFLINE=1``)
it stops before loading anything.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..offline import offline_variable
from .source import optional_extra

SHARE_HINT = "drop --share to serve on this machine only"


def check_share(share: bool) -> None:
    """Stop at once when ``share`` is asked for while an offline variable says there is no network."""
    why = offline_variable() if share else ""
    if why:
        raise UserError(f"--share needs the network to reach Gradio's share servers, but {why}; {SHARE_HINT}")


def launch(app: Any, host: str | None, port: int | None, share: bool) -> None:
    """Serve ``app`` until stopped (Ctrl-C); ``host``/``port`` None: Gradio's GRADIO_SERVER_NAME/PORT or its defaults.

    With ``share``, a link that cannot be made is a one-line :class:`UserError` (the server is closed first).
    """
    from .demo import MAX_UPLOAD_SIZE

    check_share(share)
    kwargs = {"server_name": host, "server_port": port, "show_error": True, "max_file_size": MAX_UPLOAD_SIZE}
    if not share:
        app.launch(share=False, **kwargs)
        return
    printed = io.StringIO()  # Gradio's own lines: shown once the link exists, replaced by one line when it does not
    with contextlib.redirect_stdout(printed):
        app.launch(share=True, prevent_thread_lock=True, **kwargs)
        if not app.share_url:
            app.close()
    if not app.share_url:
        lines = [line.strip() for line in printed.getvalue().splitlines()]
        why = next((line for line in lines if "share link" in line.lower()), "Gradio returned no link")
        raise UserError(f"--share: {why.rstrip('.')} (Gradio's share servers need the network); {SHARE_HINT}")
    print(printed.getvalue(), end="", flush=True)
    app.block_thread()


def serve_demo(source: str | Path, host: str | None, port: int | None, share: bool, examples_dir: Path | None = None) -> int:
    """Load ``source``, build its app and serve it (see :func:`launch`); returns the exit code 0 when stopped."""
    check_share(share)  # before loading: an offline --share is refused at once
    with optional_extra("gradio", "demo"):  # before loading the model: a missing extra is reported first
        import gradio  # noqa: F401
    from .demo import DemoModel, build_app

    launch(build_app(DemoModel(source, examples_dir)), host, port, share)
    return 0
