"""An agent reports its engine's capabilities at registration; the pool shows them and
keeps the last report when an older agent says nothing; an unknown one is a 422."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from suanli.services.bootstrap import LocalTokens

NODES = [{"hostname": "n1", "cpus": 8, "memory_mb": 8192, "gpus": {"A100": 2}}]


def _register(api: TestClient, tokens: LocalTokens, **extra: Any) -> Any:
    return api.post(
        "/v1/agent/register",
        json={"nodes": NODES, "agent_version": "t", "known": [], **extra},
        headers={"Authorization": f"Bearer {tokens.agent}"},
    )


def _capabilities(api: TestClient, tokens: LocalTokens) -> Any:
    got = api.get("/v1/clusters", headers={"Authorization": f"Bearer {tokens.user}"})
    (cluster,) = got.json()
    return cluster["capabilities"]


def test_capabilities_are_reported_kept_and_checked(api: TestClient, tokens: LocalTokens) -> None:
    assert _register(api, tokens).status_code == 200
    assert _capabilities(api, tokens) is None  # never reported
    assert _register(api, tokens, capabilities=["log_streaming", "gang"]).status_code == 200
    assert _capabilities(api, tokens) == ["gang", "log_streaming"]
    assert _register(api, tokens).status_code == 200  # an older agent: the report stays
    assert _capabilities(api, tokens) == ["gang", "log_streaming"]
    refused = _register(api, tokens, capabilities=["teleport"])
    assert refused.status_code == 422 and "capabilities" in refused.text
    assert _capabilities(api, tokens) == ["gang", "log_streaming"]
