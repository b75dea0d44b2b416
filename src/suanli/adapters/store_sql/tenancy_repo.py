"""SQL repository of tenants, their fair-share weights, cohorts and quotas, users, and
bearer tokens (stored as SHA-256 hashes only); and of the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from suanli.adapters.store_sql.tables import audit_events, quotas, tenants, tokens, users
from suanli.domain.audit import AuditAction, AuditEvent
from suanli.domain.ids import ClusterId, ProviderId, TenantId, TokenId, UserId
from suanli.domain.quota import Quota, TenantShare
from suanli.domain.tenancy import Principal, Role, Tenant, TokenInfo, User


def _tenant(row: Any) -> Tenant:
    return Tenant(TenantId(row.id), row.name, row.sector, row.contact, row.created_at, row.size)


def _user(row: Any) -> User:
    return User(
        UserId(row.id),
        Role(row.role),
        TenantId(row.tenant_id) if row.tenant_id else None,
        ProviderId(row.provider_id) if row.provider_id else None,
        row.created_at,
        row.disabled_at,
    )


def _token(row: Any) -> TokenInfo:
    return TokenInfo(
        TokenId(row.id),
        UserId(row.user_id),
        row.name,
        Role(row.role),
        row.created_at,
        row.expires_at,
        row.last_used_at,
        row.revoked_at,
        ClusterId(row.cluster_id) if row.cluster_id else None,
    )


def _principal(row: Any) -> Principal:
    return Principal(
        TenantId(row.tenant_id) if row.tenant_id else None,
        UserId(row.user_id),
        Role(row.role),
        ClusterId(row.cluster_id) if row.cluster_id else None,
        ProviderId(row.provider_id) if row.provider_id else None,
        TokenId(row.id),
    )


def _quota(row: Any) -> Quota:
    return Quota(
        TenantId(row.tenant_id),
        row.flavor,
        int(row.nominal),
        None if row.borrowing_limit is None else int(row.borrowing_limit),
        None if row.lending_limit is None else int(row.lending_limit),
    )


class SqlTenancyRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add_tenant(self, tenant: Tenant) -> None:
        self._c.execute(
            insert(tenants).values(
                id=tenant.id,
                name=tenant.name,
                sector=tenant.sector,
                contact=tenant.contact,
                size=tenant.size,
                created_at=tenant.created_at,
            )
        )

    def update_tenant(self, tenant: Tenant) -> None:
        self._c.execute(
            update(tenants)
            .where(tenants.c.id == tenant.id)
            .values(
                name=tenant.name, sector=tenant.sector, contact=tenant.contact, size=tenant.size
            )
        )

    def get_tenant(self, tenant_id: TenantId) -> Tenant | None:
        row = self._c.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
        return _tenant(row) if row else None

    def list_tenants(self) -> list[Tenant]:
        return [_tenant(r) for r in self._c.execute(select(tenants).order_by(tenants.c.id))]

    def add_user(self, user: User) -> None:
        self._c.execute(
            insert(users).values(
                id=user.id,
                role=user.role.value,
                tenant_id=user.tenant_id,
                provider_id=user.provider_id,
                created_at=user.created_at,
                disabled_at=user.disabled_at,
            )
        )

    def get_user(self, user_id: UserId) -> User | None:
        row = self._c.execute(select(users).where(users.c.id == user_id)).first()
        return _user(row) if row else None

    def list_users(
        self, *, tenant_id: TenantId | None = None, provider_id: ProviderId | None = None
    ) -> list[User]:
        query = select(users).order_by(users.c.id)
        if tenant_id is not None:
            query = query.where(users.c.tenant_id == tenant_id)
        if provider_id is not None:
            query = query.where(users.c.provider_id == provider_id)
        return [_user(r) for r in self._c.execute(query)]

    def disable_user(self, user_id: UserId, at: datetime) -> None:
        self._c.execute(
            update(users)
            .where(users.c.id == user_id, users.c.disabled_at.is_(None))
            .values(disabled_at=at)
        )

    def set_share(self, share: TenantShare) -> None:
        self._c.execute(
            update(tenants)
            .where(tenants.c.id == share.tenant_id)
            .values(weight=share.weight, cohort=share.cohort)
        )

    def list_shares(self) -> list[TenantShare]:
        rows = self._c.execute(
            select(tenants.c.id, tenants.c.weight, tenants.c.cohort).order_by(tenants.c.id)
        )
        return [TenantShare(TenantId(r.id), float(r.weight), r.cohort) for r in rows]

    def set_quota(self, quota: Quota) -> None:
        # INSERT ... ON CONFLICT DO UPDATE (both backends have it): an upsert that two
        # concurrent writers cannot turn into a primary-key violation.
        upsert = pg_insert if self._c.dialect.name == "postgresql" else sqlite_insert
        amounts = {
            "nominal": quota.nominal,
            "borrowing_limit": quota.borrowing_limit,
            "lending_limit": quota.lending_limit,
        }
        statement = upsert(quotas).values(tenant_id=quota.tenant_id, flavor=quota.flavor, **amounts)
        self._c.execute(
            statement.on_conflict_do_update(
                index_elements=[quotas.c.tenant_id, quotas.c.flavor], set_=amounts
            )
        )

    def delete_quota(self, tenant_id: TenantId, flavor: str) -> bool:
        result = self._c.execute(
            delete(quotas).where(quotas.c.tenant_id == tenant_id, quotas.c.flavor == flavor)
        )
        return bool(result.rowcount)

    def list_quotas(self, tenant_id: TenantId | None = None) -> list[Quota]:
        query = select(quotas).order_by(quotas.c.tenant_id, quotas.c.flavor)
        if tenant_id is not None:
            query = query.where(quotas.c.tenant_id == tenant_id)
        return [_quota(r) for r in self._c.execute(query)]

    def add_token(
        self,
        token_id: str,
        token_hash: str,
        principal: Principal,
        at: datetime,
        *,
        name: str = "",
        expires_at: datetime | None = None,
    ) -> None:
        self._c.execute(
            insert(tokens).values(
                id=token_id,
                token_hash=token_hash,
                tenant_id=principal.tenant_id,
                user_id=principal.user_id,
                role=principal.role.value,
                cluster_id=principal.cluster_id,
                provider_id=principal.provider_id,
                created_at=at,
                name=name,
                expires_at=expires_at,
            )
        )

    def principal_for(self, token_hash: str, now: datetime | None = None) -> Principal | None:
        # A token of a disabled user is dead; tokens without a user row (agents, tokens
        # made before accounts existed) stand alone.
        query = (
            select(tokens)
            .outerjoin(users, users.c.id == tokens.c.user_id)
            .where(
                tokens.c.token_hash == token_hash,
                tokens.c.revoked_at.is_(None),
                users.c.disabled_at.is_(None),
            )
        )
        if now is not None:
            query = query.where(or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now))
        row = self._c.execute(query).first()
        return _principal(row) if row else None

    def token_last_used(self, token_id: TokenId) -> datetime | None:
        value: datetime | None = self._c.execute(
            select(tokens.c.last_used_at).where(tokens.c.id == token_id)
        ).scalar_one_or_none()
        return value

    def touch_token(self, token_id: TokenId, at: datetime) -> None:
        self._c.execute(update(tokens).where(tokens.c.id == token_id).values(last_used_at=at))

    def list_tokens(self, user_id: UserId | None = None) -> list[TokenInfo]:
        query = select(tokens).order_by(tokens.c.created_at, tokens.c.id)
        if user_id is not None:
            query = query.where(tokens.c.user_id == user_id)
        return [_token(r) for r in self._c.execute(query)]

    def get_token(self, token_id: TokenId) -> tuple[TokenInfo, Principal] | None:
        row = self._c.execute(select(tokens).where(tokens.c.id == token_id)).first()
        return (_token(row), _principal(row)) if row else None

    def revoke_token(self, token_id: TokenId, at: datetime) -> bool:
        result = self._c.execute(
            update(tokens)
            .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(result.rowcount)

    def revoke_user_tokens(self, user_id: UserId, at: datetime) -> int:
        result = self._c.execute(
            update(tokens)
            .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return int(result.rowcount)


class SqlAuditRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, event: AuditEvent) -> None:
        self._c.execute(
            insert(audit_events).values(
                at=event.at,
                actor=event.actor,
                actor_role=event.actor_role,
                action=event.action.value,
                target=event.target[:200],
                tenant_id=event.tenant_id,
                provider_id=event.provider_id,
                detail=event.detail,
            )
        )

    def list(
        self,
        *,
        since: datetime | None = None,
        before_id: int | None = None,
        tenant_id: TenantId | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        a = audit_events.c
        query = select(audit_events).order_by(a.id.desc()).limit(limit)
        if since is not None:
            query = query.where(a.at >= since)
        if before_id is not None:
            query = query.where(a.id < before_id)
        if tenant_id is not None:
            query = query.where(a.tenant_id == tenant_id)
        return [
            AuditEvent(
                r.at,
                UserId(r.actor),
                r.actor_role,
                AuditAction(r.action),
                r.target,
                TenantId(r.tenant_id) if r.tenant_id else None,
                ProviderId(r.provider_id) if r.provider_id else None,
                dict(r.detail or {}),
                int(r.id),
            )
            for r in self._c.execute(query)
        ]
