"""Browser sessions: the dashboard's credential and its CSRF token.

Logging in exchanges a bearer token for a *session token* of the same user (an ordinary
token named "web session", 12 hours, revoked at logout), kept in a cookie the page's
scripts cannot read (HttpOnly), that the browser sends only to this site's own requests
(SameSite=Strict), and over TLS only when the page came over TLS (Secure). The bearer
token typed in is never stored by the browser.

CSRF: a request authenticated by the cookie that may change something (any method but
GET, HEAD, OPTIONS) must also carry `X-CSRF-Token`, an HMAC of the session secret that
only a page which read it from `GET /session` (same origin: a cross-site page cannot read
the answer) can know. SameSite=Strict already keeps the cookie off cross-site requests;
the header is the second, independent line (older browsers, same-site subdomains).
Nothing about CSRF is stored on the server: the token is a function of the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from starlette.requests import Request

from suanli.domain.errors import Forbidden

SESSION_COOKIE = "suanli_session"
CSRF_HEADER = "x-csrf-token"
SESSION_LIFETIME = timedelta(hours=12)
SESSION_TOKEN_NAME = "web session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(session_secret: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 of a fixed label keyed by its secret."""
    key = session_secret.encode("utf-8", "surrogatepass")
    return hmac.new(key, b"suanli-csrf-v1", hashlib.sha256).hexdigest()


def session_secret(request: Request) -> str:
    """The session cookie's value, or "" without one."""
    return request.cookies.get(SESSION_COOKIE, "")


def check_csrf(request: Request, secret: str) -> None:
    """Refuse (403) a state-changing request authenticated by the session cookie whose
    X-CSRF-Token header is missing or wrong. Safe methods pass."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent, csrf_token(secret)):
        raise Forbidden(
            "This request came with the session cookie but without a valid CSRF token.",
            hint="send the X-CSRF-Token header from GET /session (the dashboard does), "
            "or call the API with 'Authorization: Bearer <token>' instead of the cookie.",
        )
