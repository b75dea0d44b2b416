"""The one authentication and authorisation dependency every /v1 route passes through:
bearer token -> Principal, then the route's declared access rule (`suanli.api.access`),
then the caller's rate limit. The services check permissions and object scopes again
against `suanli.domain.permissions`, so a call from another shell is held to the same
rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from suanli.api.access import access_of
from suanli.api.web_session import check_csrf, session_secret
from suanli.domain.errors import Forbidden, RateLimited
from suanli.domain.permissions import require
from suanli.domain.tenancy import Principal, Role
from suanli.platform import Platform


def platform_of(request: Request) -> Platform:
    found: Platform = request.app.state.platform
    return found


async def platform(request: Request) -> Platform:
    """Dependency. `async` because FastAPI runs sync dependencies in a worker thread,
    which would cost a thread hand-off per request for a dictionary lookup."""
    return platform_of(request)


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def credential(request: Request) -> str:
    """The token a request authenticates with: its bearer token, else the dashboard's
    session cookie, whose state-changing requests must carry the CSRF header (403
    otherwise; api/web_session.py)."""
    found = bearer(request)
    if found:
        return found
    secret = session_secret(request)
    if secret:
        check_csrf(request, secret)
    return secret


async def current_principal(request: Request) -> Principal:
    """Resolve the caller (401 without a valid token or session), check the route's
    access rule (403) and the caller's rate limit (429). A cached token is resolved on
    the event loop; only a cache miss goes to the store (in a worker thread, since it
    blocks)."""
    found = credential(request)
    plat = platform_of(request)
    auth = plat.auth
    principal = auth.cached(found)
    if principal is None:
        principal = await run_in_threadpool(auth.authenticate, found or None)
    route = request.scope.get("route")
    rule = access_of(getattr(route, "endpoint", None))
    if rule is None:
        # fail closed: a route nobody declared a rule for is served to nobody
        raise Forbidden(
            "This route declares no access rule, so it is closed.",
            hint="report it to the platform's developers.",
        )
    if rule.permission is not None:
        require(principal, rule.permission)
    limit = plat.config.agent_rate_limit if principal.role is Role.AGENT else plat.config.rate_limit
    wait = plat.rate_limiter.take(principal.token_id or principal.user_id, limit)
    if wait is not None:
        raise RateLimited(
            f"Too many requests with this token (at most {limit.rate_per_s:g} a second, "
            f"bursts of {limit.burst:g}).",
            retry_after_s=wait,
            hint="wait for the Retry-After seconds, then send fewer requests (batch them, "
            "or page with larger limits).",
        )
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
Plat = Annotated[Platform, Depends(platform)]
