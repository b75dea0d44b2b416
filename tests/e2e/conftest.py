"""Fixtures for the end-to-end tests (see `harness` for what they run and clean up)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.harness import Server, shutdown


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One running server shared by the tests of a module that do not restart it."""
    srv = Server(tmp_path_factory.mktemp("suanli-e2e"))
    try:
        srv.start()
        srv.wait_ready()
        yield srv
    finally:
        shutdown(srv)


@pytest.fixture
def make_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Server]]:
    """A factory of servers (not started) owned by one test; all are stopped afterwards."""
    with contextlib.ExitStack() as cleanup:

        def make() -> Server:
            srv = Server(tmp_path_factory.mktemp("suanli-e2e-restart"))
            cleanup.callback(shutdown, srv)
            return srv

        yield make
