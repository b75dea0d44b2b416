"""The one authentication dependency every route passes through: bearer token ->
Principal. Authorisation (role -> permission) is checked by the services against
`suanli.domain.permissions`, so roles and tenant isolation evolve in one table."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from suanli.domain.tenancy import Principal
from suanli.platform import Platform


def platform_of(request: Request) -> Platform:
    found: Platform = request.app.state.platform
    return found


async def platform(request: Request) -> Platform:
    """Dependency. `async` because FastAPI runs sync dependencies in a worker thread,
    which would cost a thread hand-off per request for a dictionary lookup."""
    return platform_of(request)


async def current_principal(request: Request) -> Principal:
    """Resolve the caller; raises Unauthenticated (401) without a valid token. A cached
    token is resolved on the event loop; only a cache miss goes to the store (in a
    worker thread, since the store blocks)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    found = token.strip() if scheme.lower() == "bearer" else ""
    auth = platform_of(request).auth
    principal = auth.cached(found)
    if principal is None:
        principal = await run_in_threadpool(auth.authenticate, found or None)
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
Plat = Annotated[Platform, Depends(platform)]
