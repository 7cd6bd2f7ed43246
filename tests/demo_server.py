"""Launching a Gradio app of the demo on a free localhost port for the tests."""
from __future__ import annotations

import socket
from contextlib import contextmanager
from typing import Any, Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` in this process (server thread) and yield its URL; closed afterwards."""
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, share=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()
