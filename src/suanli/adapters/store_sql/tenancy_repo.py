"""SQL repository of tenants, their fair-share weights, cohorts and quotas, and bearer
tokens (stored as SHA-256 hashes only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from suanli.adapters.store_sql.tables import quotas, tenants, tokens
from suanli.domain.ids import ClusterId, TenantId, UserId
from suanli.domain.quota import Quota, TenantShare
from suanli.domain.tenancy import Principal, Role, Tenant


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
        self._c.execute(insert(tenants).values(id=tenant.id, name=tenant.name))

    def get_tenant(self, tenant_id: TenantId) -> Tenant | None:
        row = self._c.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
        return Tenant(TenantId(row.id), row.name) if row else None

    def list_tenants(self) -> list[Tenant]:
        rows = self._c.execute(select(tenants.c.id, tenants.c.name).order_by(tenants.c.id))
        return [Tenant(TenantId(r.id), r.name) for r in rows]

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
