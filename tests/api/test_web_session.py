"""The dashboard's session over HTTP: login exchanges a token for an HttpOnly SameSite
cookie of a new session token; the cookie authenticates /v1 reads; changes need the CSRF
header; logout revokes the session; agents cannot log in; bad input is a clear 4xx and
writes nothing. The page and its assets are served with a strict CSP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from suanli.api.web_session import SESSION_COOKIE
from suanli.platform import Platform
from suanli.services.bootstrap import LocalTokens
from tests.api.test_http_api import assert_problem, auth


def _token_count(plat: Platform, tokens: LocalTokens) -> int:
    op = plat.auth.authenticate(tokens.operator)
    return len(plat.accounts.all_tokens(op))


def test_login_sets_a_strict_httponly_cookie_of_a_new_token(
    api: TestClient, platform: Platform, tokens: LocalTokens
) -> None:
    before = _token_count(platform, tokens)
    resp = api.post("/session", json={"token": tokens.user})
    assert resp.status_code == 200, resp.text
    cookie = resp.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age=43200"):
        assert attribute.lower() in cookie.lower(), cookie
    assert tokens.user not in cookie  # the typed token is not what the browser keeps
    body = resp.json()
    assert body["role"] == "consumer" and "job:submit" in body["permissions"]
    assert len(body["csrf_token"]) == 64
    assert _token_count(platform, tokens) == before + 1
    again = api.get("/session")
    assert again.status_code == 200 and again.json()["csrf_token"] == body["csrf_token"]
    assert again.json()["expires_at"] is not None
    assert api.get("/v1/jobs").status_code == 200  # the cookie authenticates reads


def test_changes_by_cookie_need_the_csrf_token(api: TestClient, tokens: LocalTokens) -> None:
    csrf = api.post("/session", json={"token": tokens.user}).json()["csrf_token"]
    job = {"command": ["true"], "name": "by-cookie"}
    assert_problem(api.post("/v1/jobs", json=job), 403, "CSRF")
    assert_problem(api.post("/v1/jobs", json=job, headers={"X-CSRF-Token": "0" * 64}), 403)
    assert api.get("/v1/jobs").json()["items"] == []  # nothing was written
    made = api.post("/v1/jobs", json=job, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    # a bearer token needs no CSRF header (no cookie involved)
    api.cookies.clear()
    assert api.post("/v1/jobs", json=job, headers=auth(tokens.user)).status_code == 201


def test_logout_revokes_the_session(api: TestClient, tokens: LocalTokens) -> None:
    csrf = api.post("/session", json={"token": tokens.user}).json()["csrf_token"]
    secret = api.cookies.get(SESSION_COOKIE)
    assert secret
    assert_problem(api.delete("/session"), 403, "CSRF")
    assert api.get("/v1/jobs").status_code == 200
    out = api.delete("/session", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert api.cookies.get(SESSION_COOKIE) is None
    assert_problem(api.get("/v1/jobs", headers=auth(secret)), 401, "not valid")
    assert_problem(api.get("/session"), 401, "log in")
    assert api.get("/v1/jobs", headers=auth(tokens.user)).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "word"),
    [
        ({"token": "sl_wrong"}, 401, "not valid"),
        ({"token": ""}, 422, "token"),
        ({}, 422, "token"),
        ({"token": "x" * 600}, 422, "token"),
    ],
)
def test_bad_logins_are_clear_and_write_nothing(
    api: TestClient,
    platform: Platform,
    tokens: LocalTokens,
    body: dict[str, str],
    status: int,
    word: str,
) -> None:
    before = _token_count(platform, tokens)
    resp = api.post("/session", json=body)
    assert resp.status_code == status, resp.text
    assert word in resp.text.lower()
    assert "Traceback" not in resp.text and "set-cookie" not in resp.headers
    assert _token_count(platform, tokens) == before


def test_an_agent_cannot_log_in(api: TestClient, tokens: LocalTokens) -> None:
    assert_problem(api.post("/session", json={"token": tokens.agent}), 403, "agent")


def test_the_page_is_served_with_a_strict_policy(api: TestClient) -> None:
    root = api.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/ui/"
    page = api.get("/ui/")
    assert page.status_code == 200 and '<script type="module" src="app.js">' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN, no remote asset
    for asset in ("app.js", "charts.js", "i18n.js", "app.css"):
        got = api.get(f"/ui/{asset}")
        assert got.status_code == 200 and got.headers["x-content-type-options"] == "nosniff"
        assert "//cdn" not in got.text and "https://" not in got.text.replace("https://suanli", "")
    assert api.get("/ui/../pyproject.toml").status_code == 404
