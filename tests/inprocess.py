"""The SDK client against an in-process app (no socket): agents and users in one test."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from suanli.sdk.client import Client


class InProcessClient(Client):
    """The SDK client, talking to an in-process app instead of over a socket."""

    def __init__(self, app: FastAPI, token: str) -> None:
        super().__init__("http://testserver", token)
        self._http.close()
        self._http = TestClient(app, headers={"Authorization": f"Bearer {token}"})
