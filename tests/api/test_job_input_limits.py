"""Job submissions over HTTP: text that cannot be sent on, non-ASCII digits, overflowing
or absurd numbers and oversized environments are a 422 naming the field and the limit,
and nothing is stored. And a bad row that reached the store anyway cannot break the
agent's claim for anyone else."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from suanli.adapters.clock import ManualClock
from suanli.domain.ids import JobId
from suanli.domain.jobs import (
    MAX_ENV_BYTES,
    MAX_ENV_KEYS,
    MAX_ENV_VALUE_BYTES,
    MAX_THROUGHPUT_HINTS,
    Job,
    JobEvent,
    JobSpec,
    JobStatus,
)
from suanli.domain.resources import Resources
from suanli.platform import Platform
from suanli.services.agents import NodeReport
from suanli.services.bootstrap import LocalTokens
from tests.api.test_http_api import assert_problem, auth


def _post_raw(api: TestClient, token: str, body: str) -> object:
    """POST a JSON text as is: `json=` could not carry a lone surrogate escape."""
    return api.post(
        "/v1/jobs",
        content=body.encode("ascii"),
        headers=auth(token) | {"Content-Type": "application/json"},
    )


SURROGATE = '"a\\ud800b"'


def _body(fields: str) -> str:
    """A job body (JSON text) with `fields` after the command."""
    return '{"command": ["x"], ' + fields + "}"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (_body('"env": {"X": ' + SURROGATE + "}"), "env", ["surrogate"]),
        (_body('"env": {' + SURROGATE + ': "v"}'), "env", ["surrogate"]),
        ('{"command": ["x", ' + SURROGATE + "]}", "command", ["command[1]", "surrogate"]),
        (_body('"working_dir": ' + SURROGATE), "working_dir", ["surrogate"]),
        (_body('"name": ' + SURROGATE), "name", ["surrogate"]),
        (_body('"regions": [' + SURROGATE + "]"), "regions", ["regions[0]"]),
        (_body('"deny_providers": [' + SURROGATE + "]"), "deny_providers", []),
        (_body('"service": ' + SURROGATE), "service", []),
        (_body('"job_type": ' + SURROGATE), "job_type", []),
        (_body('"sector": ' + SURROGATE), "sector", ["surrogate"]),
        (_body('"gpu_models": [' + SURROGATE + "]"), "gpu_models", []),
        ('{"command": ["x"], "name": "a\\u0000b"}', "name", ["NUL"]),
        ('{"command": ["x"], "name": "a\\nb"}', "name", ["control"]),
        ('{"command": ["x"], "regions": ["be\\u202eijing"]}', "regions", ["control"]),
        ('{"command": ["x"], "env": {"A-B": "v"}}', "env", ["valid variable name"]),
        ('{"command": ["x"], "env": {"9X": "v"}}', "env", ["valid variable name"]),
        ('{"command": ["x"], "memory": "\\u00b2G"}', "memory", ["ASCII"]),
        ('{"command": ["x"], "memory": "\\u0663G"}', "memory", ["ASCII"]),
        ('{"command": ["x"], "time_limit": "\\uff11\\uff12h"}', "time_limit", ["ASCII"]),
        ('{"command": ["x"], "time_limit": "\\u00b2"}', "time_limit", ["ASCII"]),
        ('{"command": ["x"], "gpus": "A100:\\u00b2"}', "gpus", ["whole number"]),
        ('{"command": ["x"], "gpus": "\\u0663"}', "gpus", []),
        ('{"command": ["x"], "memory": "9000000000000000000000000"}', "memory", ["64 TiB"]),
        ('{"command": ["x"], "memory": "99999999999T"}', "memory", ["64 TiB"]),
        ('{"command": ["x"], "gpu_memory": "1P"}', "gpu_memory", ["64 TiB"]),
        (_body('"time_limit": "' + "9" * 60 + '"'), "time_limit", []),
        ('{"command": ["x"], "cpus": true}', "cpus", []),
        ('{"command": ["x"], "max_attempts": true}', "max_attempts", []),
        ('{"command": ["x"], "gang_size": false}', "gang_size", []),
        ('{"command": ["x"], "cpus": 1e400}', "cpus", []),
        ('{"command": ["x"], "latency_slo_ms": 1e309}', "latency_slo_ms", []),
        (_body('"cpus": 1' + "0" * 400), "cpus", []),
        (_body('"gang_size": 1' + "0" * 400), "gang_size", ["4096"]),
        (_body('"max_attempts": 1' + "0" * 400), "max_attempts", ["100"]),
        (
            _body('"min_gang_size": 1' + "0" * 400),
            "min_gang_size",
            ["4096"],
        ),
        ('{"command": ["x"], "throughput_hints": {"A100": true}}', "throughput_hints", []),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_nothing_is_stored(
    api: TestClient, tokens: LocalTokens, body: str, field: str, words: list[str]
) -> None:
    json.loads(body)  # the test sends valid JSON
    response = _post_raw(api, tokens.user, body)
    problem = assert_problem(response, 422, *words)
    assert str(problem.get("field", "")).split(".")[0] == field, problem
    assert api.get("/v1/jobs", headers=auth(tokens.user)).json()["items"] == []


def test_the_limits_of_an_environment_are_named(api: TestClient, tokens: LocalTokens) -> None:
    h = auth(tokens.user)
    cases = [
        ({f"K{i}": "v" for i in range(MAX_ENV_KEYS + 1)}, str(MAX_ENV_KEYS)),
        ({"BIG": "v" * (MAX_ENV_VALUE_BYTES + 1)}, str(MAX_ENV_VALUE_BYTES)),
        ({f"K{i}": "v" * 30_000 for i in range(5)}, str(MAX_ENV_BYTES)),
    ]
    for env, limit in cases:
        response = api.post("/v1/jobs", json={"command": ["x"], "env": env}, headers=h)
        problem = assert_problem(response, 422, limit)
        assert problem["field"] == "env" and "hint" in problem
    hints = {"A100": 1.0} | {f"m{i}": 1.0 for i in range(MAX_THROUGHPUT_HINTS)}
    response = api.post("/v1/jobs", json={"command": ["x"], "throughput_hints": hints}, headers=h)
    assert_problem(response, 422, str(MAX_THROUGHPUT_HINTS))
    argv = ["x"] * 5000
    assert_problem(api.post("/v1/jobs", json={"command": argv}, headers=h), 422, "4096")
    # what is within the limits is accepted: ints for floats, UTF-8 everywhere
    ok = api.post(
        "/v1/jobs",
        json={
            "command": ["python3", "-c", "print('作业')\n"],
            "name": "训练",
            "cpus": 2,
            "env": {"LANG": "zh_CN.UTF-8", "_X1": "a\tb\nc"},
            "working_dir": "/tmp/作业",
            "throughput_hints": {"H100": 3, "A100": 1.5},
        },
        headers=h,
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["resources"]["cpus"] == 2.0


def test_log_offsets_past_2_to_the_62_are_a_422(api: TestClient, tokens: LocalTokens) -> None:
    h = auth(tokens.user)
    job = api.post("/v1/jobs", json={"command": ["x"]}, headers=h).json()
    for offset in (2**63, 2**64, 10**30):
        response = api.get(f"/v1/jobs/{job['id']}/logs", params={"offset": offset}, headers=h)
        assert_problem(response, 422, "offset")
    fine = api.get(f"/v1/jobs/{job['id']}/logs", params={"offset": 2**62}, headers=h)
    assert fine.status_code == 200 and fine.content == b""


def test_a_bad_row_in_the_store_cannot_break_the_claim(
    api: TestClient, platform: Platform, tokens: LocalTokens, clock: ManualClock
) -> None:
    """The attack: a spec with a lone surrogate made every claim answer fail after the
    attempts were committed as dispatched, so every job in the batch was LOST."""
    agent = platform.auth.authenticate(tokens.agent)
    platform.agents.register(
        agent, [NodeReport("node-a", Resources(4000, 8192))], agent_version="t", known=[]
    )
    user = platform.auth.authenticate(tokens.user)
    now = clock.now()
    bad = Job(
        JobId("job-bad"),
        user.own_tenant(),
        user.user_id,
        JobSpec(command=("x",), resources=Resources.request(), env={"X": "\ud800"}),
        JobStatus.PENDING,
        now,
        updated_at=now,
    )
    with platform.store.unit_of_work() as uow:
        uow.jobs.add_many([bad])
        uow.jobs.add_events([JobEvent(bad.id, now, None, JobStatus.PENDING, "Submitted", 0)])
        uow.commit()
    good = api.post("/v1/jobs", json={"command": ["echo", "ok"]}, headers=auth(tokens.user))
    assert good.status_code == 201
    platform.scheduler.run_once()

    claimed = api.post("/v1/agent/claim", headers=auth(tokens.agent))

    assert claimed.status_code == 200, claimed.text
    assert [a["job_id"] for a in claimed.json()["assignments"]] == [good.json()["id"]]
    shown = api.get("/v1/jobs/job-bad", headers=auth(tokens.user)).json()
    assert shown["status"] == "FAILED" and "surrogate" in shown["reason"]
