"""Usage queries: per job, and totals grouped by tenant, provider, region or cluster."""

from __future__ import annotations

from datetime import datetime

from suanli.domain.errors import NotFound
from suanli.domain.ids import TenantId
from suanli.domain.permissions import Permission, allows, require
from suanli.domain.tenancy import Principal
from suanli.ports.store import Store, UsageTotal


class UsageService:
    def __init__(self, store: Store) -> None:
        self._store = store

    def totals(
        self,
        principal: Principal,
        *,
        by: tuple[str, ...],
        tenant_id: TenantId | None,
        since: datetime | None,
        until: datetime | None = None,
    ) -> list[UsageTotal]:
        require(principal, Permission.USAGE_READ)
        if not allows(principal.role, Permission.SEE_ALL_TENANTS):
            if tenant_id not in (None, principal.tenant_id):
                raise NotFound(f"No tenant {tenant_id!r}.", field="tenant")
            tenant_id = principal.tenant_id
        with self._store.unit_of_work(readonly=True) as uow:
            return uow.usage.totals(by=by, tenant_id=tenant_id, since=since, until=until)
