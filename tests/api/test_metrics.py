"""`GET /metrics`: Prometheus text that the Prometheus parser reads, with at least ten
families, job counts that match the API's, scheduler and pool figures, and the same access
rule as every route (operators and auditors; others 403, no token 401)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from suanli.adapters.clock import ManualClock
from suanli.api.app import create_app
from suanli.domain.resources import Resources
from suanli.platform import Platform
from suanli.services.agents import NodeReport
from suanli.services.bootstrap import LocalTokens, bootstrap_local


@pytest.fixture
def tokens(platform: Platform, clock: ManualClock) -> LocalTokens:
    return bootstrap_local(platform.store, clock, platform.ids, user="alice", previous=None)


@pytest.fixture
def api(platform: Platform) -> TestClient:
    return TestClient(create_app(platform))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def test_metrics_parse_and_agree_with_the_api(
    api: TestClient, platform: Platform, tokens: LocalTokens
) -> None:
    agent = platform.auth.authenticate(tokens.agent)
    node = NodeReport("n1", Resources(8000, 16384, {"H100": 4}))
    platform.agents.register(agent, [node], agent_version="t", known=[])
    for gpus in ("H100:2", "H100:2", "H100:8"):  # two fit; one can never fit
        body = {"command": ["true"], "gpus": gpus}
        assert api.post("/v1/jobs", json=body, headers=auth(tokens.user)).status_code == 201
    platform.scheduler.run_once()
    response = api.get("/metrics", headers=auth(tokens.operator))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    families = {f.name for f in text_string_to_metric_families(text)}
    assert len({f for f in families if f.startswith("suanli_")}) >= 10, families
    got = samples(text)
    jobs = api.get("/v1/jobs", headers=auth(tokens.operator)).json()["items"]
    by_status: dict[str, int] = {}
    for job in jobs:
        by_status[job["status"]] = by_status.get(job["status"], 0) + 1
    metric = {labels["status"]: value for labels, value in got["suanli_jobs"] if value}
    assert metric == by_status == {"SCHEDULED": 2, "PENDING": 1}
    assert ({"reason": "constraints"}, 1.0) in got["suanli_queue_length"]
    devices = {(labels["model"], labels["state"]): v for labels, v in got["suanli_gpus"]}
    assert [devices[("H100", state)] for state in ("total", "used", "free")] == [4, 4, 0]
    assert got["suanli_placements_total"] == [({}, 2.0)]
    assert got["suanli_scheduler_cycle_seconds_count"] == [({}, 1.0)]
    assert {s["cluster"] for s, _ in got["suanli_agent_heartbeat_age_seconds"]} == {"local"}


def test_metrics_need_an_operator_or_auditor_token(api: TestClient, tokens: LocalTokens) -> None:
    assert api.get("/metrics").status_code == 401
    for token in (tokens.user, tokens.agent):
        response = api.get("/metrics", headers=auth(token))
        assert response.status_code == 403 and "metrics:read" in response.json()["detail"]


def test_the_sample_grafana_dashboard_uses_only_exported_families(
    api: TestClient, tokens: LocalTokens
) -> None:
    import json
    import re
    from pathlib import Path

    dashboard = json.loads(
        (Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text()
    )
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"suanli_[a-z_]+", target["expr"])
    }
    text = api.get("/metrics", headers=auth(tokens.operator)).text
    families = {f.name for f in text_string_to_metric_families(text)}
    bare = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in used}
    assert used and bare <= families, bare - families
