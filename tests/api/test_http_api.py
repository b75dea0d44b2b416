"""The HTTP API through FastAPI's test client: authentication on every route, problem
documents for every error, no tracebacks, nothing written on bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from suanli.services.bootstrap import LocalTokens

PROBLEM = "application/problem+json"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: object, status: int, *words: str) -> dict[str, object]:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "Traceback" not in response.text
    body: dict[str, object] = response.json()
    for word in words:
        assert word.lower() in str(body["detail"]).lower(), body
    return body


def test_every_v1_route_requires_a_token(api: TestClient, tokens: LocalTokens) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    # /session is the dashboard's login: it takes the token in its body or the cookie
    # (tests/api/test_web_session.py)
    operations = [
        (m.upper(), p) for p, ops in paths.items() if not p.startswith("/session") for m in ops
    ]
    assert len(operations) >= 15
    for method, template in operations:
        path = re.sub(r"\{[^}]+\}", "x", template)
        assert_problem(api.request(method, path), 401, "credentials")
        assert_problem(api.request(method, path, headers=auth("sl_wrong")), 401, "not valid")


def test_submit_list_get_and_logs(api: TestClient, tokens: LocalTokens) -> None:
    h = auth(tokens.user)
    created = api.post(
        "/v1/jobs",
        json={"command": ["echo", "hi"], "gpus": "A100:1", "time_limit": "1h"},
        headers=h,
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] == "PENDING" and job["resources"]["gpus"] == {"A100-80GB": 1}
    assert job["time_limit_s"] == 3600
    for key in ("id", "status", "exit_code", "started_at", "ended_at", "reason", "usage"):
        assert key in job
    listed = api.get("/v1/jobs", headers=h, params={"status": "pending"}).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    detail = api.get(f"/v1/jobs/{job['id']}", headers=h).json()
    assert detail["events"][0]["to_status"] == "PENDING"
    logs = api.get(f"/v1/jobs/{job['id']}/logs", headers=h)
    assert logs.status_code == 200 and logs.content == b""
    assert logs.headers["x-suanli-status"] == "PENDING"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"command": []}, "command"),
        ({"command": ["x"], "cpus": -1}, "cpus"),
        ({"command": ["x"], "cpus": "many"}, "cpus"),
        ({"command": ["x"], "memory": "4X"}, "memory"),
        ({"command": ["x"], "gpus": "FOO:1"}, "gpus"),
        ({"command": ["x"], "time_limit": "soon"}, "time_limit"),
        ({"command": ["x"], "colour": "red"}, "colour"),
        ({"command": "echo hi"}, "command"),
        ({}, "command"),
    ],
)
def test_bad_submissions_name_the_field_and_write_nothing(
    api: TestClient, tokens: LocalTokens, body: dict[str, object], field: str
) -> None:
    h = auth(tokens.user)
    problem = assert_problem(api.post("/v1/jobs", json=body, headers=h), 422)
    assert problem["field"] == field
    assert api.get("/v1/jobs", headers=h).json()["items"] == []


def test_malformed_json_is_a_clear_422(api: TestClient, tokens: LocalTokens) -> None:
    got = api.post(
        "/v1/jobs",
        content=b'{"command": [',
        headers={**auth(tokens.user), "Content-Type": "application/json"},
    )
    assert_problem(got, 422, "not valid JSON")


def test_unknown_job_and_bad_parameters(api: TestClient, tokens: LocalTokens) -> None:
    h = auth(tokens.user)
    assert_problem(api.get("/v1/jobs/j-nope", headers=h), 404, "j-nope")
    assert_problem(api.post("/v1/jobs/j-nope/cancel", headers=h), 404)
    assert_problem(api.get("/v1/jobs", params={"status": "DONE"}, headers=h), 422, "DONE")
    assert_problem(api.get("/v1/jobs", params={"limit": 0}, headers=h), 422, "limit")
    assert_problem(api.get("/v1/usage", params={"by": "colour"}, headers=h), 422, "colour")
    assert_problem(api.get("/v1/nowhere", headers=h), 404)


def test_roles_are_enforced(api: TestClient, tokens: LocalTokens) -> None:
    assert_problem(api.post("/v1/agent/claim", headers=auth(tokens.user)), 403, "agent")
    assert_problem(api.post("/v1/jobs", json={"command": ["x"]}, headers=auth(tokens.agent)), 403)
    assert_problem(api.post("/v1/regions", json={"id": "x"}, headers=auth(tokens.user)), 403)


def test_operator_registers_a_region_provider_and_cluster(
    api: TestClient, tokens: LocalTokens
) -> None:
    h = auth(tokens.operator)
    assert (
        api.post(
            "/v1/regions",
            json={"id": "zhengzhou", "name": "郑州", "latitude": 34.75, "longitude": 113.62},
            headers=h,
        ).status_code
        == 201
    )
    assert_problem(api.post("/v1/regions", json={"id": "zhengzhou"}, headers=h), 409)
    assert_problem(api.post("/v1/regions", json={"id": "Bad Name"}, headers=h), 422, "name")
    assert api.post("/v1/providers", json={"id": "uni"}, headers=h).status_code == 201
    made = api.post(
        "/v1/clusters",
        json={"id": "gpu-1", "provider_id": "uni", "region_id": "zhengzhou", "engine": "slurm"},
        headers=h,
    )
    assert made.status_code == 201, made.text
    agent = auth(made.json()["agent_token"])
    reg = api.post(
        "/v1/agent/register",
        headers=agent,
        json={"nodes": [{"hostname": "n1", "cpus": 64, "memory_mb": 512000, "gpus": {"H100": 8}}]},
    )
    assert reg.status_code == 200, reg.text
    cluster = api.get("/v1/clusters/gpu-1", headers=auth(tokens.user)).json()
    assert cluster["state"] == "READY" and cluster["free"]["gpus"] == {"H100": 8}
    assert_problem(
        api.post(
            "/v1/clusters",
            json={"id": "c2", "provider_id": "nope", "region_id": "zhengzhou"},
            headers=h,
        ),
        404,
        "provider",
    )


def test_the_committed_openapi_document_is_current(api: TestClient) -> None:
    committed = Path(__file__).parents[2] / "docs" / "api" / "openapi.json"
    generated = api.get("/openapi.json").json()
    assert json.loads(committed.read_text()) == generated, (
        "docs/api/openapi.json is stale: run `suanli openapi > docs/api/openapi.json`"
    )


def test_units_lists_the_catalog_with_sources(api: TestClient, tokens: LocalTokens) -> None:
    doc = api.get("/v1/units", headers=auth(tokens.user)).json()
    assert doc["unit"] == "SCH" and doc["classes"]["ai"] == "fp16_bf16"
    devices = {d["model"]: d for d in doc["devices"]}
    assert len(devices) >= 20 and all(d["source"] for d in devices.values())
    assert abs(devices["H100"]["fp16_bf16_tflops"] - 989) / 989 < 0.02
    assert abs(devices["A100-80GB"]["fp16_bf16_tflops"] - 312) / 312 < 0.02
    assert doc["sectors"]["research"] == "科研"


def test_sector_and_class_are_validated(api: TestClient, tokens: LocalTokens) -> None:
    h = auth(tokens.user)
    made = api.post(
        "/v1/jobs", json={"command": ["x"], "sector": "交通", "workload_class": "hpc"}, headers=h
    )
    assert made.status_code == 201 and made.json()["sector"] == "transport"
    assert made.json()["workload_class"] == "hpc"
    bad = assert_problem(
        api.post("/v1/jobs", json={"command": ["x"], "sector": "space"}, headers=h), 422, "sector"
    )
    assert bad["field"] == "sector" and "research" in str(bad["hint"])
    assert_problem(
        api.post("/v1/jobs", json={"command": ["x"], "workload_class": "quantum"}, headers=h),
        422,
        "workload class",
    )


def test_calibration_request_reaches_the_agent(api: TestClient, tokens: LocalTokens) -> None:
    agent = auth(tokens.agent)
    node = {"hostname": "n1", "cpus": 4, "memory_mb": 8192}
    assert (
        api.post("/v1/agent/register", json={"nodes": [node]}, headers=agent).json()["calibrate"]
        is False
    )
    assert_problem(api.post("/v1/clusters/local/calibrate", headers=auth(tokens.user)), 403)
    assert (
        api.post("/v1/clusters/local/calibrate", headers=auth(tokens.operator)).status_code == 202
    )
    assert api.post("/v1/agent/heartbeat", json={}, headers=agent).json()["calibrate"] is True
    measurement = {
        "measured_at": "2026-03-01T08:00:00+00:00",
        "cores": 4,
        "cpu_fp32_gflops": 300.0,
        "cpu_fp64_gflops": 150.0,
        "triad_gbs": 20.0,
    }
    sent = api.post(
        "/v1/agent/calibration",
        headers=agent,
        json={"nodes": [{"hostname": "n1", "calibration": measurement}]},
    )
    assert sent.status_code == 204, sent.text
    cluster = api.get("/v1/clusters/local", headers=auth(tokens.user)).json()
    ratings = cluster["nodes"][0]["ratings_pflops"]
    assert ratings["general"]["cpu"] == pytest.approx(75.0 / 1e6)
    assert ratings["hpc"]["cpu"] == pytest.approx(37.5 / 1e6)
    assert_problem(
        api.post(
            "/v1/agent/calibration",
            headers=agent,
            json={
                "nodes": [
                    {
                        "hostname": "n1",
                        "calibration": {**measurement, "measured_at": "2026-03-01T08:00:00"},
                    }
                ]
            },
        ),
        422,
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/jobs?cursor=100000000000000000000", None),
        ("POST", "/v1/agent/jobs/x/attempts/99999999999999999999/state", {"status": "RUNNING"}),
        (
            "POST",
            "/v1/agent/register",
            {"nodes": [{"hostname": "a", "cpus": "Infinity", "memory_mb": 1}]},
        ),
        (
            "POST",
            "/v1/agent/register",
            {"nodes": [{"hostname": "a", "cpus": 1, "memory_mb": 2**70}]},
        ),
        (
            "POST",
            "/v1/agent/register",
            {"nodes": [{"hostname": "a", "cpus": 1, "memory_mb": 1}], "agent_version": "v" * 65},
        ),
        (
            "POST",
            "/v1/agent/register",
            {
                "nodes": [
                    {"hostname": "Node A", "cpus": 1, "memory_mb": 1},
                    {"hostname": "node-a", "cpus": 1, "memory_mb": 1},
                ]
            },
        ),
        (
            "POST",
            "/v1/agent/register",
            {"nodes": [{"hostname": "a", "cpus": 1, "memory_mb": 1, "gpus": {"A100": -3}}]},
        ),
        (
            "POST",
            "/v1/agent/register",
            {"nodes": [{"hostname": "a", "cpus": 1, "memory_mb": 1, "gpus": {"NOPE-9000": 1}}]},
        ),
        ("POST", "/v1/regions", {"id": "r", "name": "n" * 201}),
        ("POST", "/v1/jobs", {"command": ["x"], "name": "a\x00b"}),
        ("POST", "/v1/jobs", {"command": ["x"], "cpus": 0.0001}),
        ("POST", "/v1/jobs", {"command": ["x"], "regions": [f"r{i}" for i in range(40)]}),
    ],
)
def test_out_of_range_input_is_a_422_never_a_500(
    api: TestClient, tokens: LocalTokens, method: str, path: str, body: object
) -> None:
    token = {"/v1/agent": tokens.agent, "/v1/regions": tokens.operator}
    who = next((t for prefix, t in token.items() if path.startswith(prefix)), tokens.user)
    got = api.request(method, path, json=body, headers=auth(who))
    assert_problem(got, 422)
