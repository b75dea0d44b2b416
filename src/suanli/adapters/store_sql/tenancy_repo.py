"""SQL repository of tenants and bearer tokens (stored as SHA-256 hashes only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from suanli.adapters.store_sql.tables import tenants, tokens
from suanli.domain.ids import ClusterId, TenantId, UserId
from suanli.domain.tenancy import Principal, Role, Tenant


class SqlTenancyRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add_tenant(self, tenant: Tenant) -> None:
        self._c.execute(insert(tenants).values(id=tenant.id, name=tenant.name))

    def get_tenant(self, tenant_id: TenantId) -> Tenant | None:
        row = self._c.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
        return Tenant(TenantId(row.id), row.name) if row else None

    def add_token(self, token_id: str, token_hash: str, principal: Principal, at: datetime) -> None:
        self._c.execute(
            insert(tokens).values(
                id=token_id,
                token_hash=token_hash,
                tenant_id=principal.tenant_id,
                user_id=principal.user_id,
                role=principal.role.value,
                cluster_id=principal.cluster_id,
                created_at=at,
            )
        )

    def principal_for(self, token_hash: str) -> Principal | None:
        row = self._c.execute(
            select(tokens).where(tokens.c.token_hash == token_hash, tokens.c.revoked_at.is_(None))
        ).first()
        if row is None:
            return None
        return Principal(
            TenantId(row.tenant_id),
            UserId(row.user_id),
            Role(row.role),
            ClusterId(row.cluster_id) if row.cluster_id else None,
        )
