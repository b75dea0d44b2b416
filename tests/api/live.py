"""A real uvicorn server for tests that need the wire: keep-alive connections, raw
request targets, chunked bodies, and tools (schemathesis) that speak HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serve `app` on a free 127.0.0.1 port from a background thread; yields the base URL
    once the server accepts connections, and stops it on exit. The socket is bound here
    (port 0), so no other process can take the port between choosing and binding it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # log_config=None and no log_level: leave logging as pytest set it up, so tests see
    # what the server logs and no logger's level changes for the tests that follow.
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test", daemon=True
    )
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server stopped before it started; see the log")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
