"""Accounts: tenants, users, tokens, the caller itself, and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from suanli.api.access import Scope, access
from suanli.api.schemas_accounts import (
    AuditEventPublic,
    AuditPage,
    TenantCreate,
    TenantDetail,
    TokenCreate,
    TokenIssued,
    TokenPublic,
    UserCreate,
    UserPublic,
    WhoAmI,
)
from suanli.api.security import Caller, Plat
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import ProviderId, TenantId, TokenId, UserId
from suanli.domain.permissions import Permission, allows
from suanli.domain.quantities import parse_duration_s
from suanli.domain.tenancy import Role

router = APIRouter(tags=["accounts"])

NEVER = "never"


def _role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"Unknown role {text!r}.",
            field="role",
            hint="use consumer, provider, auditor or operator.",
        ) from None


def _lifetime(text: str | None) -> timedelta | None:
    if text is None or text.strip().lower() == NEVER:
        return None
    return timedelta(seconds=parse_duration_s(text, field="expires"))


@router.get("/me", response_model=WhoAmI)
@access(None, Scope.SELF)
def whoami(caller: Caller) -> WhoAmI:
    """Who the token in use belongs to, and what it may do."""
    granted = [p.value for p in Permission if allows(caller.role, p)]
    return WhoAmI.of(caller, granted)


@router.post("/tenants", status_code=201, response_model=TenantDetail)
@access(Permission.ACCOUNTS_WRITE, Scope.PLATFORM)
def add_tenant(body: TenantCreate, caller: Caller, plat: Plat) -> TenantDetail:
    """Create a tenant (operator): a firm, lab or school whose jobs are billed together."""
    tenant = plat.accounts.add_tenant(
        caller,
        TenantId(body.id),
        name=body.name,
        sector=body.sector,
        contact=body.contact,
        size=body.size,
    )
    return TenantDetail(
        id=tenant.id,
        name=tenant.name,
        sector=tenant.sector,
        contact=tenant.contact,
        size=tenant.size,
        created_at=tenant.created_at,
        users=[],
    )


@router.get("/tenants/{tenant_id}", response_model=TenantDetail)
@access(Permission.ACCOUNTS_READ, Scope.TENANT)
def show_tenant(tenant_id: str, caller: Caller, plat: Plat) -> TenantDetail:
    """A tenant's account and users (a consumer: only its own tenant)."""
    tenant, users = plat.accounts.tenant(caller, TenantId(tenant_id))
    return TenantDetail(
        id=tenant.id,
        name=tenant.name,
        sector=tenant.sector,
        contact=tenant.contact,
        size=tenant.size,
        created_at=tenant.created_at,
        users=[UserPublic.of(u) for u in users],
    )


@router.post("/users", status_code=201, response_model=UserPublic)
@access(Permission.ACCOUNTS_WRITE, Scope.PLATFORM)
def add_user(body: UserCreate, caller: Caller, plat: Plat) -> UserPublic:
    """Create a person's account (operator): a consumer of a tenant, a provider admin of
    a provider, an auditor or an operator. Then give them a token: POST /v1/tokens."""
    user = plat.accounts.add_user(
        caller,
        UserId(body.id),
        role=_role(body.role),
        tenant_id=TenantId(body.tenant_id) if body.tenant_id else None,
        provider_id=ProviderId(body.provider_id) if body.provider_id else None,
    )
    return UserPublic.of(user)


@router.get("/users", response_model=list[UserPublic])
@access(Permission.ACCOUNTS_READ, Scope.TENANT)
def list_users(
    caller: Caller,
    plat: Plat,
    tenant: Annotated[str | None, Query(max_length=63)] = None,
    provider: Annotated[str | None, Query(max_length=63)] = None,
) -> list[UserPublic]:
    """Users, optionally of one tenant or provider (a consumer: its own tenant's)."""
    users = plat.accounts.users(
        caller,
        tenant_id=TenantId(tenant) if tenant else None,
        provider_id=ProviderId(provider) if provider else None,
    )
    return [UserPublic.of(u) for u in users]


@router.get("/users/{user_id}", response_model=UserPublic)
@access(Permission.ACCOUNTS_READ, Scope.TENANT)
def get_user(user_id: str, caller: Caller, plat: Plat) -> UserPublic:
    """One user of your tenant (operators, auditors: any). Yourself: GET /v1/me."""
    return UserPublic.of(plat.accounts.user(caller, UserId(user_id)))


@router.post("/users/{user_id}/disable", response_model=UserPublic)
@access(Permission.ACCOUNTS_WRITE, Scope.PLATFORM)
def disable_user(user_id: str, caller: Caller, plat: Plat) -> UserPublic:
    """Disable an account and revoke all its tokens (operator)."""
    return UserPublic.of(plat.accounts.disable_user(caller, UserId(user_id)))


@router.post("/tokens", status_code=201, response_model=TokenIssued)
@access(Permission.TOKENS_OWN, Scope.SELF)
def create_token(body: TokenCreate, caller: Caller, plat: Plat) -> TokenIssued:
    """A new token for yourself, or for another user (operator). The secret is in this
    answer only: it is stored hashed and cannot be shown again."""
    issued = plat.accounts.create_token(
        caller,
        user_id=UserId(body.user_id) if body.user_id else None,
        name=body.name,
        lifetime=_lifetime(body.expires),
    )
    return TokenIssued(token=issued.secret, info=TokenPublic.of(issued.info))


@router.get("/tokens", response_model=list[TokenPublic])
@access(Permission.TOKENS_OWN, Scope.SELF)
def list_tokens(
    caller: Caller,
    plat: Plat,
    user: Annotated[str | None, Query(max_length=63)] = None,
    all_users: Annotated[
        bool, Query(alias="all", description="every token, agents' included (operator)")
    ] = False,
) -> list[TokenPublic]:
    """Your tokens (or a user's, or everyone's: operator): ids, names, last use,
    expiry; never the secret."""
    if all_users:
        tokens = plat.accounts.all_tokens(caller)
    else:
        tokens = plat.accounts.tokens(caller, user_id=UserId(user) if user else None)
    return [TokenPublic.of(t) for t in tokens]


@router.post("/tokens/{token_id}/revoke", response_model=TokenPublic)
@access(Permission.TOKENS_OWN, Scope.SELF)
def revoke_token(token_id: str, caller: Caller, plat: Plat) -> TokenPublic:
    """Revoke a token (yours, or anyone's: operator); it stops working within a second."""
    return TokenPublic.of(plat.accounts.revoke_token(caller, TokenId(token_id)))


@router.get("/audit", response_model=AuditPage)
@access(Permission.AUDIT_READ, Scope.PLATFORM)
def audit(
    caller: Caller,
    plat: Plat,
    since: datetime | None = None,
    tenant: Annotated[str | None, Query(max_length=63)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> AuditPage:
    """Security-relevant actions, newest first (operator, auditor): token creation and
    revocation, accounts, an operator cancelling another tenant's job, prices, quotas."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    events = plat.audit.events(
        caller,
        since=since,
        before_id=cursor,
        tenant_id=TenantId(tenant) if tenant else None,
        limit=limit,
    )
    return AuditPage(
        items=[AuditEventPublic.of(e) for e in events],
        next_cursor=events[-1].id if len(events) == limit else None,
    )
