"""Usage queries: per job, and totals grouped by tenant, provider, region or cluster.

Scope: a consumer sees its own tenant's usage; a provider admin what ran on its own
provider's clusters (of every tenant: it is what the provider is paid for); operators and
auditors everything."""

from __future__ import annotations

from datetime import datetime

from suanli.domain.errors import NotFound
from suanli.domain.ids import TenantId
from suanli.domain.permissions import Permission, allows, require
from suanli.domain.tenancy import Principal, Role
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
        provider_id = None
        if principal.role is Role.PROVIDER:
            # a provider admin sees what ran on its own clusters, of every tenant
            provider_id = principal.provider_id
            if provider_id is None:
                return []
        elif not allows(principal.role, Permission.SEE_ALL_TENANTS):
            if tenant_id not in (None, principal.tenant_id):
                raise NotFound(f"No tenant {tenant_id!r}.", field="tenant")
            tenant_id = principal.own_tenant()
        with self._store.unit_of_work(readonly=True) as uow:
            return uow.usage.totals(
                by=by, tenant_id=tenant_id, since=since, until=until, provider_id=provider_id
            )
