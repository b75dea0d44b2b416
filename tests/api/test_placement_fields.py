"""The submission fields for placement (gangs, region and provider filters, data and
client latency, throughput hints), services with replicas, and what jobs and agents see
of gangs and preemption, through the HTTP API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from suanli.adapters.clock import ManualClock
from suanli.cli import main as cli
from suanli.cli import submit as submit_cli
from suanli.domain.ids import JobId, NodeId
from suanli.domain.jobs import Attempt, JobStatus, Placement
from suanli.domain.resources import Resources
from suanli.platform import Platform
from suanli.sdk.client import Client
from suanli.services.agents import NodeReport
from suanli.services.bootstrap import LocalTokens
from suanli.services.lifecycle import move
from suanli.services.preemption import request_preemption

PROBLEM = "application/problem+json"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


FULL: dict[str, Any] = {
    "command": ["python3", "train.py"],
    "cpus": 4,
    "gpus": "any:2",
    "gang_size": 4,
    "deny_regions": ["far"],
    "providers": ["local"],
    "deny_providers": ["cheap"],
    "gpu_models": ["H100", "A100"],
    "data_region": "guiyang",
    "max_data_rtt_ms": 5,
    "client_region": "zhengzhou",
    "latency_slo_ms": 30,
    "job_type": "resnet50",
    "throughput_hints": {"H100": 3, "A100": 1},
}


def test_the_placement_fields_are_accepted_and_shown(api: TestClient, tokens: LocalTokens) -> None:
    h = auth(tokens.user)
    created = api.post("/v1/jobs", json=FULL, headers=h)
    assert created.status_code == 201, created.text
    job = created.json()
    expected = {
        "gang_size": 4,
        "deny_regions": ["far"],
        "providers": ["local"],
        "deny_providers": ["cheap"],
        "gpu_models": ["H100", "A100-80GB"],
        "data_region": "guiyang",
        "max_data_rtt_ms": 5,
        "client_region": "zhengzhou",
        "latency_slo_ms": 30,
        "service": "",
        "job_type": "resnet50",
        "throughput_hints": {"H100": 3, "A100-80GB": 1},
        "placements": [],
        "preempt_requested": False,
    }
    assert {k: job[k] for k in expected} == expected
    again = api.get(f"/v1/jobs/{job['id']}", headers=h).json()
    assert {k: again[k] for k in expected} == expected
    # a plain job still answers as before, with the defaults
    plain = api.post("/v1/jobs", json={"command": ["true"]}, headers=h).json()
    assert plain["gang_size"] == 1 and plain["service"] == "" and plain["placements"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"gang_size": 0}, "gang_size"),
        ({"gang_size": 100_000}, "gang_size"),
        ({"gang_size": "four"}, "gang_size"),
        ({"deny_regions": [""]}, "deny_regions"),
        ({"providers": ["x" * 65]}, "providers"),
        ({"deny_providers": "cheap"}, "deny_providers"),
        ({"gpu_models": ["NO-SUCH-GPU"]}, "gpu_models"),
        ({"gpus": "A100:1", "gpu_models": ["H100"]}, "gpu_models"),
        ({"data_region": None}, "data_region"),
        ({"max_data_rtt_ms": -1}, "max_data_rtt_ms"),
        ({"client_region": None}, "client_region"),
        ({"latency_slo_ms": 0}, "latency_slo_ms"),
        ({"throughput_hints": {"H100": -3}}, "throughput_hints"),
        ({"throughput_hints": {"NO-SUCH-GPU": 1}}, "throughput_hints"),
        ({"throughput_hints": {"H100": "fast"}}, "throughput_hints.H100"),
        ({"job_type": "x" * 201}, "job_type"),
        ({"service": "x" * 201}, "service"),
        ({"replicas": 3}, "replicas"),
    ],
)
def test_bad_placement_fields_are_a_422_naming_the_field(
    api: TestClient, tokens: LocalTokens, change: dict[str, Any], field: str
) -> None:
    h = auth(tokens.user)
    got = api.post("/v1/jobs", json={**FULL, **change}, headers=h)
    assert got.status_code == 422, got.text
    assert got.headers["content-type"].startswith(PROBLEM)
    problem = got.json()
    assert problem["field"] == field, problem
    assert api.get("/v1/jobs", headers=h).json()["items"] == []


def test_a_service_with_replicas_queues_them_all(api: TestClient, tokens: LocalTokens) -> None:
    h = auth(tokens.user)
    body: dict[str, Any] = {
        "command": ["serve"],
        "service": "chat",
        "replicas": 3,
        "client_region": "local",
    }
    got = api.post("/v1/services", json={**body, "latency_slo_ms": 20}, headers=h)
    assert got.status_code == 201, got.text
    created = got.json()
    assert created["service"] == "chat"
    assert [j["name"] for j in created["jobs"]] == ["chat-0", "chat-1", "chat-2"]
    assert {j["service"] for j in created["jobs"]} == {"chat"}
    assert {j["latency_slo_ms"] for j in created["jobs"]} == {20}
    listed = api.get("/v1/jobs", headers=h).json()["items"]
    assert sorted(j["id"] for j in listed) == sorted(j["id"] for j in created["jobs"])
    changes: list[tuple[dict[str, Any], str]] = [
        ({"replicas": 0}, "replicas"),
        ({"service": ""}, "service"),
        ({"name": "mine"}, "name"),
        ({"gang_size": 0}, "gang_size"),
        ({"replicas": "many"}, "replicas"),
    ]
    for change, field in changes:
        bad = api.post("/v1/services", json={**body, **change}, headers=h)
        assert bad.status_code == 422, bad.text
        assert bad.json()["field"] == field
    missing = api.post("/v1/services", json={"command": ["serve"], "replicas": 2}, headers=h)
    assert missing.status_code == 422 and missing.json()["field"] == "service"
    assert len(api.get("/v1/jobs", headers=h).json()["items"]) == 3


def test_gang_placements_and_preemption_reach_the_job_view_and_the_agent(
    api: TestClient, tokens: LocalTokens, platform: Platform, clock: ManualClock
) -> None:
    agent = platform.auth.authenticate(tokens.agent)
    platform.agents.register(
        agent,
        [NodeReport("node-a", Resources(8000, 8192)), NodeReport("node-b", Resources(8000, 8192))],
        agent_version="t",
        known=[],
    )
    h = auth(tokens.user)
    job = api.post("/v1/jobs", json={"command": ["mpirun"], "gang_size": 2}, headers=h).json()
    placements = (
        Placement(NodeId("node-a"), Resources(1000, 1024)),
        Placement(NodeId("node-b"), Resources(1000, 1024)),
    )
    with platform.store.unit_of_work() as uow:  # placed as the scheduler would
        current = uow.jobs.get_for_update(JobId(job["id"]))
        assert current is not None
        total = Resources(2000, 2048)
        now = clock.now()
        cluster = uow.pool.list_clusters()[0]
        node = NodeId("node-a")
        uow.jobs.add_attempt(
            Attempt(
                current.id,
                1,
                cluster.id,
                node,
                total,
                cluster.region_id,
                JobStatus.SCHEDULED,
                now,
                placements=placements,
            )
        )
        move(
            uow,
            current,
            JobStatus.SCHEDULED,
            reason="placed",
            at=now,
            attempt=1,
            cluster_id=cluster.id,
            node_id=node,
            allocation=total,
            placements=placements,
        )
        uow.commit()
    a = auth(tokens.agent)
    claim = api.post("/v1/agent/claim", headers=a).json()
    (assignment,) = claim["assignments"]
    assert assignment["nodes"] == ["node-a", "node-b"] and assignment["gang_size"] == 2
    assert [p["node_id"] for p in assignment["placements"]] == ["node-a", "node-b"]
    assert claim["preempt"] == []
    with platform.store.unit_of_work() as uow:
        current = uow.jobs.get(JobId(job["id"]))
        assert current is not None
        request_preemption(uow, current, reason="for job j-vip", at=clock.now())
        uow.commit()
    ref = [{"job_id": job["id"], "attempt": 1}]
    assert api.post("/v1/agent/claim", headers=a).json()["preempt"] == ref
    beat = api.post("/v1/agent/heartbeat", json={"known": ref}, headers=a).json()
    assert beat["preempt"] == ref and beat["cancel"] == []
    shown = api.get(f"/v1/jobs/{job['id']}", headers=h).json()
    assert shown["preempt_requested"] is True and "j-vip" in shown["reason"]
    assert [p["node_id"] for p in shown["placements"]] == ["node-a", "node-b"]
    assert shown["placements"][1]["allocation"]["cpus"] == 1
    assert [p["node_id"] for p in shown["attempts"][0]["placements"]] == ["node-a", "node-b"]


# --- the CLI, in-process against the same app ----------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_submit_flags(
    api: TestClient, tokens: LocalTokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    def local(url: str | None, token: str | None) -> Client:
        return Client("http://test", tokens.user, transport=api._transport)

    monkeypatch.setattr(cli, "client", local)
    monkeypatch.setattr(submit_cli, "client", local)
    runner = CliRunner()

    def submit(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli.app, ["submit", *args])
        return result.exit_code, result.stdout, result.stderr

    code, out, err = submit(
        "--gpus", "any:1", "--gang", "2", "--deny-region", "far", "--deny-region", "farther",
        "--provider", "local", "--deny-provider", "cheap", "--gpu-model", "H100",
        "--data-region", "guiyang", "--data-rtt", "5", "--client-region", "zhengzhou",
        "--latency-slo", "30", "--job-type", "bert", "--speed", "H100=2.5",
        "--", "python3", "train.py",
    )  # fmt: skip
    assert code == 0, err
    job = api.get(f"/v1/jobs/{out.strip()}", headers=auth(tokens.user)).json()
    assert (job["gang_size"], job["deny_regions"], job["providers"]) == (
        2,
        ["far", "farther"],
        ["local"],
    )
    assert (job["deny_providers"], job["gpu_models"], job["throughput_hints"]) == (
        ["cheap"],
        ["H100"],
        {"H100": 2.5},
    )
    assert (job["data_region"], job["max_data_rtt_ms"], job["client_region"]) == (
        "guiyang",
        5,
        "zhengzhou",
    )
    assert (job["latency_slo_ms"], job["job_type"], job["command"]) == (
        30,
        "bert",
        ["python3", "train.py"],
    )
    code, out, err = submit("--service", "chat", "--replicas", "2", "--", "serve")
    assert code == 0, err
    ids = out.split()
    assert len(ids) == 2 and "chat-0" in err and "chat-1" in err
    assert submit("--replicas", "2", "--", "serve")[0] == 2
    assert submit("--speed", "H100", "--", "x")[0] == 2
    assert submit("--speed", "H100=inf", "--", "x")[0] == 2
    code, out, err = submit("--gang", "0", "--", "x")
    assert code == 1 and "gang_size" in err
    result = runner.invoke(cli.app, ["job", ids[0]])
    assert result.exit_code == 0 and "chat" in result.stdout
