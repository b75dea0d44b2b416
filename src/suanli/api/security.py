"""The one authentication dependency every route passes through: bearer token ->
Principal. Authorisation (role -> permission) is checked by the services against
`suanli.domain.permissions`, so roles and tenant isolation evolve in one table."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from suanli.domain.tenancy import Principal
from suanli.platform import Platform


def platform(request: Request) -> Platform:
    found: Platform = request.app.state.platform
    return found


def current_principal(request: Request) -> Principal:
    """Resolve the caller; raises Unauthenticated (401) without a valid token."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    found = token.strip() if scheme.lower() == "bearer" else ""
    principal: Principal = platform(request).auth.authenticate(found or None)
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
Plat = Annotated[Platform, Depends(platform)]
