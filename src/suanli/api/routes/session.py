"""The dashboard's session: log in with a token (POST /session), read who is logged in
and the CSRF token (GET /session), log out (DELETE /session). Outside /v1: these routes
authenticate by themselves (a token in the body, or the cookie). Rules: api/web_session.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from suanli.api.security import platform_of
from suanli.api.web_session import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    SESSION_TOKEN_NAME,
    check_csrf,
    csrf_token,
    session_secret,
)
from suanli.domain.errors import Forbidden, RateLimited, Unauthenticated
from suanli.domain.permissions import Permission, allows
from suanli.domain.tenancy import Principal, Role
from suanli.platform import Platform

router = APIRouter(prefix="/session", tags=["session"])


class Login(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=512, description="an API token")]


class SessionPublic(BaseModel):
    user_id: str
    role: str
    tenant_id: str | None
    provider_id: str | None
    permissions: list[str]
    csrf_token: str = Field(description="send as X-CSRF-Token with every change")
    expires_at: datetime | None


def _public(principal: Principal, secret: str, expires_at: datetime | None) -> SessionPublic:
    return SessionPublic(
        user_id=principal.user_id,
        role=principal.role.value,
        tenant_id=principal.tenant_id,
        provider_id=principal.provider_id,
        permissions=[p.value for p in Permission if allows(principal.role, p)],
        csrf_token=csrf_token(secret),
        expires_at=expires_at,
    )


def _throttle(plat: Platform, request: Request) -> None:
    """Login attempts per client address share the per-token request limit."""
    client = request.client.host if request.client else "unknown"
    wait = plat.rate_limiter.take(f"login:{client}", plat.config.rate_limit)
    if wait is not None:
        raise RateLimited(
            "Too many login attempts from this address.",
            retry_after_s=wait,
            hint="wait for the Retry-After seconds, then try again.",
        )


@router.post("", response_model=SessionPublic, responses={401: {}, 403: {}, 429: {}})
def login(body: Login, request: Request, response: Response) -> SessionPublic:
    """Exchange an API token for a 12-hour browser session (an HttpOnly, SameSite=Strict
    cookie holding a new token of the same user; the token sent is not kept)."""
    plat = platform_of(request)
    _throttle(plat, request)
    principal = plat.auth.authenticate(body.token.strip())
    if principal.role is Role.AGENT:
        raise Forbidden(
            "An agent's token cannot log in to the dashboard.",
            hint="log in with a user's token (`suanli token create`).",
        )
    issued = plat.accounts.create_token(
        principal, name=SESSION_TOKEN_NAME, lifetime=SESSION_LIFETIME
    )
    response.set_cookie(
        SESSION_COOKIE,
        issued.secret,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    session = plat.auth.authenticate(issued.secret)
    return _public(session, issued.secret, issued.info.expires_at)


async def _session(request: Request) -> tuple[Platform, Principal, str]:
    plat = platform_of(request)
    secret = session_secret(request)
    if not secret:
        raise Unauthenticated(
            "No credentials: not logged in.",
            hint="log in with an API token (`suanli token create`).",
        )
    principal = plat.auth.cached(secret)
    if principal is None:
        principal = await run_in_threadpool(plat.auth.authenticate, secret)
    return plat, principal, secret


@router.get("", response_model=SessionPublic, responses={401: {}})
async def current(request: Request) -> SessionPublic:
    """Who the session cookie belongs to, what they may do, and the CSRF token."""
    plat, principal, secret = await _session(request)
    expires = None
    if principal.token_id is not None:
        tokens = await run_in_threadpool(plat.accounts.tokens, principal)
        expires = next((t.expires_at for t in tokens if t.id == principal.token_id), None)
    return _public(principal, secret, expires)


@router.delete("", status_code=204, responses={401: {}, 403: {}})
async def logout(request: Request) -> Response:
    """End the session: its token is revoked and the cookie cleared (CSRF header needed)."""
    plat, principal, secret = await _session(request)
    check_csrf(request, secret)
    if principal.token_id is not None:
        await run_in_threadpool(plat.accounts.revoke_token, principal, principal.token_id)
    out = Response(status_code=204)
    out.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return out
