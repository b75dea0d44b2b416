"""Accounts over HTTP: tokens made and revoked through the API, Idempotency-Key on
submit, per-token rate limits (429 with Retry-After)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from suanli.adapters.clock import ManualClock
from suanli.api.app import create_app
from suanli.platform import Platform, PlatformConfig
from suanli.services.auth import Authenticator
from suanli.services.bootstrap import LocalTokens, bootstrap_local
from suanli.services.ratelimit import RateLimit
from tests.api.test_http_api import assert_problem, auth
from tests.conftest import START


def _api(tmp: Path, **config: object) -> tuple[TestClient, LocalTokens, ManualClock]:
    clock = ManualClock(START)
    plat = Platform(PlatformConfig(f"sqlite:///{tmp / 'a.db'}", **config), clock=clock)  # type: ignore[arg-type]
    tokens = bootstrap_local(plat.store, clock, plat.ids, user="alice", previous=None)
    return TestClient(create_app(plat), raise_server_exceptions=False), tokens, clock


def test_operator_lets_a_firm_in_and_its_token_works_until_revoked(tmp_path: Path) -> None:
    api, tokens, clock = _api(tmp_path)
    op = auth(tokens.operator)
    assert (
        api.post("/v1/tenants", json={"id": "acme", "sector": "教育"}, headers=op).json()["sector"]
        == "education"
    )
    assert_problem(api.post("/v1/tenants", json={"id": "acme"}, headers=op), 409)
    user = {"id": "ann", "role": "consumer", "tenant_id": "acme"}
    assert api.post("/v1/users", json=user, headers=op).status_code == 201
    made = api.post("/v1/tokens", json={"user_id": "ann", "name": "ci"}, headers=op)
    assert made.status_code == 201, made.text
    secret, token_id = made.json()["token"], made.json()["info"]["id"]
    me = api.get("/v1/me", headers=auth(secret)).json()
    assert (me["user_id"], me["role"], me["tenant_id"]) == ("ann", "consumer", "acme")
    assert "job:submit" in me["permissions"] and "accounts:write" not in me["permissions"]
    listed = api.get("/v1/tokens", headers=auth(secret)).json()
    assert [t["id"] for t in listed] == [token_id]
    assert secret not in api.get("/v1/tokens?all=true", headers=op).text
    assert api.get("/v1/tokens?all=true", headers=auth(secret)).status_code == 403
    assert api.post(f"/v1/tokens/{token_id}/revoke", headers=op).json()["revoked_at"]
    assert_problem(api.get("/v1/me", headers=auth(secret)), 401, "not valid")
    clock.advance(Authenticator.TTL_S)
    assert_problem(api.get("/v1/jobs", headers=auth(secret)), 401)
    audit = api.get("/v1/audit", headers=op).json()["items"]
    assert [e["action"] for e in audit][:2] == ["token.revoke", "token.create"]
    assert_problem(api.get("/v1/audit", headers=auth(tokens.user)), 403)


def test_a_retried_submit_with_the_same_idempotency_key_makes_one_job(tmp_path: Path) -> None:
    api, tokens, _ = _api(tmp_path)
    h = {**auth(tokens.user), "Idempotency-Key": "4f1c-retry"}
    body = {"command": ["true"], "name": "once"}
    first = api.post("/v1/jobs", json=body, headers=h)
    second = api.post("/v1/jobs", json=body, headers=h)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert_problem(api.post("/v1/jobs", json={**body, "name": "other"}, headers=h), 409)
    names = [j["name"] for j in api.get("/v1/jobs", headers=auth(tokens.user)).json()["items"]]
    assert names == ["once"]


def test_a_token_over_its_rate_gets_429_with_retry_after(tmp_path: Path) -> None:
    api, tokens, clock = _api(tmp_path, rate_limit=RateLimit(rate_per_s=1.0, burst=3.0))
    h = auth(tokens.user)
    assert [api.get("/v1/me", headers=h).status_code for _ in range(3)] == [200, 200, 200]
    assert_problem(api.get("/v1/me", headers=h), 429, "too many")
    again = api.get("/v1/me", headers=h)
    assert again.status_code == 429 and again.headers["retry-after"] == "1"
    # another token is not slowed down by this one's burst
    assert api.get("/v1/me", headers=auth(tokens.operator)).status_code == 200
    clock.advance(1.0)
    assert api.get("/v1/me", headers=h).status_code == 200
