"""Wire schemas of accounts: tenants, users, tokens, the caller itself, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from suanli.api.schemas import Strict
from suanli.domain.audit import AuditEvent
from suanli.domain.tenancy import Principal, TokenInfo, User


class TenantCreate(Strict):
    id: str = Field(min_length=1, max_length=63, description="a slug, e.g. 'acme-ai'")
    name: str = Field("", max_length=200, description="display name; default: the id")
    sector: str = Field("other", max_length=32, description="industry, e.g. finance, 金融")
    contact: str = Field("", max_length=200, description="who to call: e-mail, phone")
    size: str = Field(
        "unknown", max_length=16, description="firm size: micro, small, medium, large, unknown"
    )


class UserCreate(Strict):
    id: str = Field(min_length=1, max_length=63, description="a slug, e.g. 'alice'")
    role: str = Field(description="consumer, provider, auditor or operator")
    tenant_id: str | None = Field(None, max_length=63, description="a consumer's tenant")
    provider_id: str | None = Field(None, max_length=63, description="a provider admin's")


class UserPublic(BaseModel):
    id: str
    role: str
    tenant_id: str | None
    provider_id: str | None
    created_at: datetime
    disabled_at: datetime | None

    @classmethod
    def of(cls, u: User) -> UserPublic:
        return cls(
            id=u.id,
            role=u.role.value,
            tenant_id=u.tenant_id,
            provider_id=u.provider_id,
            created_at=u.created_at,
            disabled_at=u.disabled_at,
        )


class TenantDetail(BaseModel):
    id: str
    name: str
    sector: str
    contact: str
    size: str = "unknown"
    created_at: datetime | None
    users: list[UserPublic]


class TokenCreate(Strict):
    user_id: str | None = Field(
        None, max_length=63, description="whose token; default: your own (others: operator)"
    )
    name: str = Field("", max_length=200, description="what it is for, e.g. 'ci'")
    expires: str | None = Field(
        "90d",
        max_length=32,
        description="lifetime, e.g. '30d', '12h'; 'never' (operators only); default 90d",
    )


class TokenPublic(BaseModel):
    """A token as it may be shown: never the secret."""

    id: str
    user_id: str
    name: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    cluster_id: str | None = None

    @classmethod
    def of(cls, t: TokenInfo) -> TokenPublic:
        return cls(
            id=t.id,
            user_id=t.user_id,
            name=t.name,
            role=t.role.value,
            created_at=t.created_at,
            expires_at=t.expires_at,
            last_used_at=t.last_used_at,
            revoked_at=t.revoked_at,
            cluster_id=t.cluster_id,
        )


class TokenIssued(BaseModel):
    token: str = Field(description="the secret: shown this once, store it now")
    info: TokenPublic


class WhoAmI(BaseModel):
    user_id: str
    role: str
    tenant_id: str | None
    provider_id: str | None
    cluster_id: str | None
    token_id: str | None
    permissions: list[str]

    @classmethod
    def of(cls, p: Principal, permissions: list[str]) -> WhoAmI:
        return cls(
            user_id=p.user_id,
            role=p.role.value,
            tenant_id=p.tenant_id,
            provider_id=p.provider_id,
            cluster_id=p.cluster_id,
            token_id=p.token_id,
            permissions=permissions,
        )


class AuditEventPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_role: str
    action: str
    target: str
    tenant_id: str | None
    provider_id: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, e: AuditEvent) -> AuditEventPublic:
        return cls(
            id=e.id or 0,
            at=e.at,
            actor=e.actor,
            actor_role=e.actor_role,
            action=e.action.value,
            target=e.target,
            tenant_id=e.tenant_id,
            provider_id=e.provider_id,
            detail=e.detail,
        )


class AuditPage(BaseModel):
    items: list[AuditEventPublic]
    next_cursor: int | None = Field(description="pass as `cursor` for older entries")
