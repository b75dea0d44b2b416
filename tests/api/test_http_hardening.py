"""The HTTP transport against a real uvicorn server, over raw http.client connections:
an unexpected error is an ordinary 500 after which the keep-alive connection still
serves; bodies over the route's limit are refused with 413; URLs that do not decode to
text and integers past the store's range are 422, never 500."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from suanli.adapters.clock import ManualClock
from suanli.adapters.ids import RandomIds
from suanli.api.app import create_app
from suanli.api.limits import MAX_BODY_ENV, MAX_LOG_BODY_ENV, BodyLimits, TextUrl
from suanli.domain.errors import InvalidInput
from suanli.platform import Platform, PlatformConfig
from suanli.services.bootstrap import LocalTokens, bootstrap_local
from suanli.services.ratelimit import RateLimit
from tests.api.live import serve

PROBLEM = "application/problem+json"
MiB = 1024 * 1024


@pytest.fixture
def plat(tmp_path: Path, clock: ManualClock) -> Iterator[Platform]:
    # SQLite only: these tests are about the transport, which is the same on any store.
    platform = Platform(
        PlatformConfig(database_url=f"sqlite:///{tmp_path / 'suanli.db'}"),
        clock=clock,
        ids=RandomIds(random.Random(11)),
    )
    yield platform
    platform.close()


@pytest.fixture
def tokens(plat: Platform, clock: ManualClock) -> LocalTokens:
    return bootstrap_local(plat.store, clock, plat.ids, user="alice", previous=None)


def failing_app(plat: Platform) -> FastAPI:
    """The real app plus test-only routes that fail the way a bug would."""
    app = create_app(plat)

    async def boom_async() -> None:
        raise RuntimeError("test-only failure (async route)")

    def boom_sync() -> None:
        raise RuntimeError("test-only failure (sync route)")

    async def broken_stream() -> AsyncIterator[bytes]:
        yield b"partial output\n"
        raise RuntimeError("test-only failure (mid-stream)")

    async def boom_mid_stream() -> StreamingResponse:
        return StreamingResponse(broken_stream(), media_type="text/plain")

    app.add_api_route("/test-only/boom-async", boom_async)
    app.add_api_route("/test-only/boom-sync", boom_sync)
    app.add_api_route("/test-only/boom-mid-stream", boom_mid_stream)
    return app


@pytest.fixture
def server(plat: Platform) -> Iterator[str]:
    with serve(failing_app(plat)) as url:
        yield url


def connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    # The timeout only stops a broken test from hanging; nothing here measures time.
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def read_problem(response: http.client.HTTPResponse, status: int) -> dict[str, object]:
    body = response.read()
    assert response.status == status, body
    assert response.getheader("content-type", "").startswith(PROBLEM)
    assert b"Traceback" not in body
    problem: dict[str, object] = json.loads(body)
    assert problem["status"] == status
    return problem


def submit_job(url: str, token: str) -> str:
    conn = connect(url)
    conn.request(
        "POST",
        "/v1/jobs",
        body=json.dumps({"command": ["true"]}),
        headers={**auth(token), "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    body = json.loads(response.read())
    assert response.status == 201, body
    conn.close()
    job_id: str = body["id"]
    return job_id


@pytest.mark.parametrize("route", ["/test-only/boom-async", "/test-only/boom-sync"])
def test_a_500_is_a_problem_and_the_keep_alive_connection_keeps_serving(
    server: str, tokens: LocalTokens, caplog: pytest.LogCaptureFixture, route: str
) -> None:
    conn = connect(server)
    conn.request("GET", route)
    failed = conn.getresponse()
    problem = read_problem(failed, 500)
    assert problem["type"] == "https://suanli.dev/problems/internal-error"
    assert "test-only failure" not in str(problem)  # the cause stays in the log
    assert (failed.getheader("connection") or "").lower() != "close"
    sock = conn.sock
    assert sock is not None

    conn.request("GET", "/v1/units", headers=auth(tokens.operator))
    after = conn.getresponse()
    assert after.status == 200, after.read()
    assert json.loads(after.read())["unit"] == "SCH"
    # http.client reconnects silently when a server closes: prove the same socket served.
    assert conn.sock is sock
    conn.close()

    logged = [r for r in caplog.records if r.exc_info is not None]
    assert len(logged) == 1, [r.getMessage() for r in logged]
    assert logged[0].name == "suanli.api" and route in logged[0].getMessage()
    exc_info = logged[0].exc_info
    assert exc_info is not None and "test-only failure" in str(exc_info[1])
    assert not [
        r for r in caplog.records if r.name.startswith("uvicorn") and r.levelno >= logging.ERROR
    ]


def test_a_failure_after_the_answer_started_cuts_the_answer_and_the_connection(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Half an answer cannot be taken back: the client must see it cut short (never a
    complete-looking body), and the connection, whose framing is lost, is closed."""
    conn = connect(server)
    conn.request("GET", "/test-only/boom-mid-stream")
    response = conn.getresponse()
    assert response.status == 200  # sent before the failure
    # IncompleteRead: the server closed the connection before the chunked body's end.
    with pytest.raises(http.client.IncompleteRead) as cut:
        response.read()
    assert cut.value.partial == b"partial output\n"
    logged = [r for r in caplog.records if r.exc_info is not None]
    assert len(logged) == 1
    exc_info = logged[0].exc_info
    assert exc_info is not None and "mid-stream" in str(exc_info[1])


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    server: str, tokens: LocalTokens
) -> None:
    conn = connect(server)
    conn.putrequest("POST", "/v1/jobs")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(2 * MiB))
    conn.putheader("Authorization", f"Bearer {tokens.user}")
    conn.endheaders()
    # No body sent yet: the answer can only come from the declared length.
    problem = read_problem(conn.getresponse(), 413)
    assert problem["type"] == "https://suanli.dev/problems/content-too-large"
    assert "1 MiB" in str(problem["detail"]) and "1048576 bytes" in str(problem["detail"])
    # A client that sends the body anyway can still use the connection afterwards.
    sock = conn.sock
    conn.send(b" " * (2 * MiB))
    conn.request("GET", "/v1/jobs", headers=auth(tokens.user))
    after = conn.getresponse()
    assert after.status == 200, after.read()
    assert json.loads(after.read())["items"] == []  # nothing was queued
    assert conn.sock is sock


def test_a_chunked_body_is_counted_as_it_streams_in(server: str, tokens: LocalTokens) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"command": ["true"], "name": "x"'
        for _ in range(24):  # 1.5 MiB of JSON whitespace, in 64 KiB chunks
            yield b" " * (64 * 1024)
        yield b"}"

    conn = connect(server)
    conn.request(
        "POST",
        "/v1/jobs",
        body=chunks(),
        headers={**auth(tokens.user), "Content-Type": "application/json"},
        encode_chunked=True,
    )
    problem = read_problem(conn.getresponse(), 413)
    assert "1 MiB" in str(problem["detail"])
    sock = conn.sock
    conn.request("GET", "/v1/jobs", headers=auth(tokens.user))
    after = conn.getresponse()
    assert after.status == 200 and json.loads(after.read())["items"] == []
    assert conn.sock is sock
    # Under the limit, the same chunked upload is an ordinary submission.
    conn.request(
        "POST",
        "/v1/jobs",
        body=iter([b'{"command": ["true"],', b' "name": "small"}']),
        headers={**auth(tokens.user), "Content-Type": "application/json"},
        encode_chunked=True,
    )
    made = conn.getresponse()
    assert made.status == 201 and json.loads(made.read())["name"] == "small"


def test_the_agent_log_route_takes_larger_bodies(server: str, tokens: LocalTokens) -> None:
    job_id = submit_job(server, tokens.user)
    path = f"/v1/agent/jobs/{job_id}/attempts/1/logs/stdout"
    conn = connect(server)
    conn.request("POST", path, body=b"x" * (2 * MiB), headers=auth(tokens.agent))
    # Past the body limit: the route itself answers (the job has no attempt 1 yet).
    passed = conn.getresponse()
    assert passed.status not in (413, 500), passed.read()
    passed.read()
    conn.putrequest("POST", path)
    conn.putheader("Content-Length", str(6 * MiB))
    conn.putheader("Authorization", f"Bearer {tokens.agent}")
    conn.endheaders()
    problem = read_problem(conn.getresponse(), 413)
    assert "5 MiB" in str(problem["detail"])


def test_body_limits_are_configurable(plat: Platform, tokens: LocalTokens) -> None:
    app = create_app(plat, body_limits=BodyLimits(default=1000, agent_logs=3000))
    api = TestClient(app)
    big = {"command": ["true"], "name": "x" * 1200}
    got = api.post("/v1/jobs", json=big, headers=auth(tokens.user))
    assert got.status_code == 413 and "1000 bytes" in got.json()["detail"]
    assert api.post("/v1/jobs", json={"command": ["true"]}, headers=auth(tokens.user)).is_success
    logs = api.post(
        "/v1/agent/jobs/j-none/attempts/1/logs/stdout",
        content=b"x" * 2000,
        headers=auth(tokens.agent),
    )
    assert logs.status_code not in (413, 500)


def test_body_limits_from_the_environment() -> None:
    assert BodyLimits.from_env({}) == BodyLimits(default=1 * MiB, agent_logs=5 * MiB)
    assert BodyLimits.from_env({MAX_BODY_ENV: "2048", MAX_LOG_BODY_ENV: " 4096 "}) == BodyLimits(
        default=2048, agent_logs=4096
    )
    for bad in ("1M", "-5", "١٠", "1e6"):
        with pytest.raises(InvalidInput) as caught:
            BodyLimits.from_env({MAX_BODY_ENV: bad})
        assert caught.value.field == MAX_BODY_ENV


@pytest.mark.parametrize(
    ("target", "field"),
    [
        ("/v1/jobs/%ED%A0%80", "path"),  # a UTF-16 surrogate, UTF-8-encoded: not text
        ("/v1/jobs/%FF%FE", "path"),
        ("/v1/jobs/a%00b", "path"),
        ("/v1/clusters/%C0%AF", "path"),  # an overlong '/'
        ("/v1/jobs?name=%FF", "name"),
        ("/v1/jobs?name=a%00b", "name"),
        ("/v1/jobs?limit=10&status=%ED%B0%80", "status"),
        ("/v1/jobs?%FF=1", "\ufffd"),
    ],
)
def test_urls_that_do_not_decode_to_text_are_422(
    server: str, tokens: LocalTokens, target: str, field: str
) -> None:
    conn = connect(server)
    conn.request("GET", target, headers=auth(tokens.operator))
    problem = read_problem(conn.getresponse(), 422)
    assert problem["field"] == field
    assert "UTF-8" in str(problem["detail"])


def test_text_in_urls_still_reaches_the_routes(server: str, tokens: LocalTokens) -> None:
    conn = connect(server)
    conn.request("GET", "/v1/jobs/%E4%BD%A0%E5%A5%BD", headers=auth(tokens.operator))
    problem = read_problem(conn.getresponse(), 404)
    assert "你好" in str(problem["detail"])
    conn.request("GET", "/v1/jobs?name=%E8%AE%AD%E7%BB%83+1", headers=auth(tokens.operator))
    listed = conn.getresponse()
    assert listed.status == 200 and json.loads(listed.read())["items"] == []


def test_a_lone_surrogate_passed_through_by_a_server_is_422() -> None:
    """Servers replace undecodable bytes; one that passed a surrogate on is refused too."""
    called: list[Scope] = []
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/jobs/\udc80",
        "raw_path": b"/v1/jobs/x",
        "query_string": b"",
        "headers": [],
    }
    asyncio.run(TextUrl(app)(scope, receive, send))
    assert called == []
    assert sent[0]["status"] == 422


@pytest.mark.parametrize(
    "target",
    [
        "/v1/jobs?limit=" + "9" * 30,
        "/v1/jobs?cursor=" + "9" * 30,
        "/v1/jobs?cursor=9223372036854775808",
        "/v1/jobs?limit=%D9%A1%D9%A0",  # Arabic-Indic digits: not an integer here
        "/v1/jobs/{job}/logs?offset=9223372036854775808",
        "/v1/jobs/{job}/logs?offset=" + "9" * 30,
        "/v1/jobs/{job}/logs?limit=" + "9" * 30,
        "/v1/jobs/{job}/logs?attempt=9223372036854775808",
    ],
)
def test_integers_past_the_stores_range_are_422(
    server: str, tokens: LocalTokens, target: str
) -> None:
    job_id = submit_job(server, tokens.user)
    conn = connect(server)
    conn.request("GET", target.format(job=job_id), headers=auth(tokens.user))
    read_problem(conn.getresponse(), 422)


def test_an_agent_log_offset_past_the_stores_range_is_422(server: str, tokens: LocalTokens) -> None:
    job_id = submit_job(server, tokens.user)
    conn = connect(server)
    conn.request(
        "POST",
        f"/v1/agent/jobs/{job_id}/attempts/1/logs/stdout?offset=9223372036854775808",
        body=b"x",
        headers=auth(tokens.agent),
    )
    read_problem(conn.getresponse(), 422)


def test_a_body_that_is_not_utf8_is_invalid_json(server: str, tokens: LocalTokens) -> None:
    conn = connect(server)
    conn.request(
        "POST",
        "/v1/jobs",
        body=b'{"command": ["\xff"]}',
        headers={**auth(tokens.user), "Content-Type": "application/json"},
    )
    problem = read_problem(conn.getresponse(), 422)
    assert problem["field"] == "body" and "not valid JSON" in str(problem["detail"])


def test_a_rate_limited_caller_gets_a_429_with_retry_after(
    tmp_path: Path, clock: ManualClock
) -> None:
    limited = Platform(
        PlatformConfig(
            database_url=f"sqlite:///{tmp_path / 'limited.db'}", rate_limit=RateLimit(1.0, 1.0)
        ),
        clock=clock,
    )
    try:
        token = bootstrap_local(limited.store, clock, limited.ids, user="alice", previous=None)
        api = TestClient(create_app(limited))
        assert api.get("/v1/units", headers=auth(token.user)).status_code == 200
        # The manual clock stands still: the bucket has not refilled for a second call.
        refused = api.get("/v1/units", headers=auth(token.user))
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith(PROBLEM)
        assert refused.json()["type"] == "https://suanli.dev/problems/rate-limited"
        assert int(refused.headers["retry-after"]) >= 1
    finally:
        limited.close()
