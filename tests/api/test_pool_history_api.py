"""GET /v1/pool/history: the utilisation page's series, shaped as the page reads them."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient

from suanli.adapters.clock import ManualClock
from suanli.domain.resources import Resources
from suanli.platform import Platform
from suanli.services.agents import NodeReport
from suanli.services.bootstrap import LocalTokens


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_history_lists_each_region_resource_and_the_queue(
    api: TestClient, platform: Platform, clock: ManualClock, tokens: LocalTokens
) -> None:
    agent = platform.auth.authenticate(tokens.agent)
    platform.agents.register(
        agent, [NodeReport("n1", Resources(4000, 8192, {"A100": 2}))], agent_version="t", known=[]
    )
    for _ in range(3):
        platform.history.sample()
        clock.advance(60)
    got = api.get("/v1/pool/history?hours=1", headers=_auth(tokens.user))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["step_s"] == 60
    resources = {s["resource"]: s for s in body["pool"]}
    assert set(resources) == {"cpu", "gpu:A100"}
    points = resources["gpu:A100"]["points"]
    assert len(points) == 3 and [p[1:] for p in points] == [[2.0, 0.0]] * 3
    assert datetime.fromisoformat(points[0][0]) < datetime.fromisoformat(points[-1][0])
    assert [q[1:] for q in body["queue"]] == [[0.0, 0.0]] * 3
    assert datetime.fromisoformat(body["since"]) < datetime.fromisoformat(body["until"])


def test_history_refuses_a_bad_span_with_a_hint(api: TestClient, tokens: LocalTokens) -> None:
    for hours in ("0", "721", "week"):
        got = api.get(f"/v1/pool/history?hours={hours}", headers=_auth(tokens.user))
        assert got.status_code == 422, got.text
        assert "hours" in got.text
    assert api.get("/v1/pool/history").status_code == 401
