"""Fixtures of the API tests: the local bootstrap's tokens and a TestClient of the app.
(Older modules define their own copies; new ones use these.)"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from suanli.adapters.clock import ManualClock
from suanli.api.app import create_app
from suanli.platform import Platform
from suanli.services.bootstrap import LocalTokens, bootstrap_local


@pytest.fixture
def tokens(platform: Platform, clock: ManualClock) -> LocalTokens:
    return bootstrap_local(platform.store, clock, platform.ids, user="alice", previous=None)


@pytest.fixture
def api(platform: Platform) -> TestClient:
    return TestClient(create_app(platform), raise_server_exceptions=False)
