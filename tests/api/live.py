"""A real uvicorn server for tests that need the wire: keep-alive connections, raw
request targets, chunked bodies, and tools (schemathesis) that speak HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp

from suanli.api.background import serve_in_thread


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serve `app` on a free 127.0.0.1 port (see `serve_in_thread`); pytest's logging
    setup is left as it is, so tests see what the server logs."""
    with serve_in_thread(app) as url:
        yield url
