"""Tenancy use cases for the operator: fair-share weights, cohorts and quotas.

Quota amounts cross this boundary in people's units: CPU in cores (float), GPUs in whole
devices. They are stored in the flavor's unit (`suanli.domain.quota`: milli-cores for
`cpu`, devices for `gpu:<model>`). Consumers may read their own tenant's settings; only
the operator changes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from suanli.domain.audit import AuditAction
from suanli.domain.devices import ANY_GPU, canonical_gpu_model
from suanli.domain.errors import InvalidInput, NotFound
from suanli.domain.ids import TenantId, slug
from suanli.domain.permissions import Permission, allows, require
from suanli.domain.quota import CPU_FLAVOR, GPU_FLAVOR_PREFIX, Quota, TenantShare, gpu_flavor
from suanli.domain.tenancy import Principal, Tenant
from suanli.ports.clock import Clock
from suanli.ports.store import Store, UnitOfWork
from suanli.services.audit import record

MAX_QUOTA_AMOUNT = 100_000_000
"""The largest quota amount accepted, in cores or devices (a sanity bound, far above any
city's pool)."""

_FLAVOR_HINT = "use 'cpu' (amounts in cores) or 'gpu:<model>' (whole devices), e.g. gpu:H100."


@dataclass(frozen=True, slots=True)
class TenantSettings:
    """A tenant with its fair-share weight, cohort and quota rows."""

    tenant: Tenant
    share: TenantShare
    quotas: list[Quota]


def canonical_flavor(raw: str) -> str:
    """'cpu' or 'gpu:<model>' with the model's canonical name ('gpu:h100' -> 'gpu:H100');
    raises InvalidInput (field 'flavor') otherwise."""
    text = raw.strip()
    if text.lower() == CPU_FLAVOR:
        return CPU_FLAVOR
    if text.lower().startswith(GPU_FLAVOR_PREFIX):
        model = text[len(GPU_FLAVOR_PREFIX) :].strip()
        if model.lower() == ANY_GPU:
            raise InvalidInput(
                "A quota is per GPU model; 'any' is not one.",
                field="flavor",
                hint="set one quota per model, e.g. gpu:H100 and gpu:A100.",
            )
        return gpu_flavor(canonical_gpu_model(model, field="flavor"))
    raise InvalidInput(f"Unknown quota flavor {raw!r}.", field="flavor", hint=_FLAVOR_HINT)


def quota_units(flavor: str) -> str:
    """The unit quota amounts of `flavor` are given and shown in: 'cores' or 'devices'."""
    return "cores" if flavor == CPU_FLAVOR else "devices"


def to_stored(flavor: str, amount: float | None, *, field: str) -> int | None:
    """A quota amount in people's units (cores, devices) -> the flavor's stored unit."""
    if amount is None:
        return None
    if isinstance(amount, bool) or not math.isfinite(amount) or amount < 0:
        raise InvalidInput(
            f"{field} must be a non-negative number, got {amount!r}.",
            field=field,
            hint=f"give {quota_units(flavor)}, e.g. 8.",
        )
    if amount > MAX_QUOTA_AMOUNT:
        raise InvalidInput(
            f"{field} must be at most {MAX_QUOTA_AMOUNT:,} {quota_units(flavor)}.",
            field=field,
        )
    if flavor == CPU_FLAVOR:
        return round(amount * 1000)
    if amount != int(amount):
        raise InvalidInput(
            f"{field} must be a whole number of GPUs, got {amount!r}.",
            field=field,
            hint="GPU quotas count whole devices, e.g. 8.",
        )
    return int(amount)


def from_stored(flavor: str, amount: int | None) -> float | None:
    """The inverse of `to_stored`: milli-cores -> cores; devices stay devices."""
    if amount is None:
        return None
    return amount / 1000 if flavor == CPU_FLAVOR else float(amount)


def require_tenant(uow: UnitOfWork, tenant_id: TenantId) -> Tenant:
    """The tenant, or NotFound saying how to list them."""
    tenant = uow.tenancy.get_tenant(tenant_id)
    if tenant is None:
        raise NotFound(
            f"No tenant {tenant_id!r}.",
            field="tenant_id",
            hint="list tenants with `suanli tenant list` (GET /v1/tenants).",
        )
    return tenant


def scoped_tenant(principal: Principal, tenant_id: TenantId | None) -> TenantId:
    """The tenant a read is about: one's own for a consumer (another's is NotFound, as if
    it did not exist); any named one for roles that see all tenants, who must name it."""
    if allows(principal.role, Permission.SEE_ALL_TENANTS):
        if tenant_id is None:
            if principal.tenant_id is not None:
                return principal.tenant_id
            raise InvalidInput(
                "Name the tenant.", field="tenant", hint="pass --tenant (GET ...?tenant=ID)."
            )
        return tenant_id
    if tenant_id not in (None, principal.tenant_id):
        raise NotFound(
            f"No tenant {tenant_id!r}.",
            field="tenant",
            hint="leave the tenant out: you see your own tenant's only.",
        )
    return principal.own_tenant()


class TenancyService:
    def __init__(
        self, store: Store, clock: Clock, *, on_change: Callable[[], None] | None = None
    ) -> None:
        """`on_change` is called after a share or quota change is committed: the
        scheduler re-reads them at its next cycle instead of after its slow refresh."""
        self._store = store
        self._clock = clock
        self._on_change = on_change or (lambda: None)

    def _visible(self, principal: Principal, tenant_id: TenantId | None) -> TenantId | None:
        """The tenant a read is scoped to: any (None) for roles that see all tenants, the
        caller's own otherwise; another tenant is 'not found'."""
        require(principal, Permission.QUOTA_READ)
        if allows(principal.role, Permission.SEE_ALL_TENANTS):
            return tenant_id
        if tenant_id not in (None, principal.tenant_id):
            raise NotFound(
                f"No tenant {tenant_id!r}.",
                field="tenant_id",
                hint=f"your tenant is {principal.tenant_id!r}.",
            )
        return principal.tenant_id

    def tenants(self, principal: Principal) -> list[TenantSettings]:
        """Tenants with weight, cohort and quotas (a consumer sees only its own)."""
        scope = self._visible(principal, None)
        with self._store.unit_of_work(readonly=True) as uow:
            shares = {s.tenant_id: s for s in uow.tenancy.list_shares()}
            quotas: dict[TenantId, list[Quota]] = {}
            for q in uow.tenancy.list_quotas(scope):
                quotas.setdefault(q.tenant_id, []).append(q)
            return [
                TenantSettings(t, shares.get(t.id, TenantShare(t.id)), quotas.get(t.id, []))
                for t in uow.tenancy.list_tenants()
                if scope is None or t.id == scope
            ]

    def set_share(
        self, principal: Principal, tenant_id: TenantId, *, weight: float, cohort: str | None
    ) -> TenantShare:
        """Set a tenant's fair-share weight and cohort (None: in no cohort)."""
        require(principal, Permission.QUOTA_WRITE)
        if cohort is not None:
            slug(cohort, field="cohort")
        share = TenantShare(tenant_id, weight, cohort)
        with self._store.unit_of_work() as uow:
            require_tenant(uow, tenant_id)
            uow.tenancy.set_share(share)
            record(
                uow,
                principal,
                AuditAction.SHARE_SET,
                tenant_id,
                at=self._clock.now(),
                tenant_id=tenant_id,
                weight=weight,
                cohort=cohort,
            )
            uow.commit()
        self._on_change()
        return share

    def quotas(self, principal: Principal, tenant_id: TenantId | None = None) -> list[Quota]:
        """Quota rows of one tenant, or of every visible tenant."""
        scope = self._visible(principal, tenant_id)
        with self._store.unit_of_work(readonly=True) as uow:
            if scope is not None:
                require_tenant(uow, scope)
            return uow.tenancy.list_quotas(scope)

    def set_quota(
        self,
        principal: Principal,
        tenant_id: TenantId,
        flavor: str,
        *,
        nominal: float,
        borrowing_limit: float | None = None,
        lending_limit: float | None = None,
    ) -> Quota:
        """Create or replace a tenant's quota for one flavor; amounts in cores (cpu) or
        devices (gpu:<model>)."""
        require(principal, Permission.QUOTA_WRITE)
        name = canonical_flavor(flavor)
        quota = Quota(
            tenant_id,
            name,
            to_stored(name, nominal, field="nominal") or 0,
            to_stored(name, borrowing_limit, field="borrowing_limit"),
            to_stored(name, lending_limit, field="lending_limit"),
        )
        with self._store.unit_of_work() as uow:
            require_tenant(uow, tenant_id)
            uow.tenancy.set_quota(quota)
            record(
                uow,
                principal,
                AuditAction.QUOTA_SET,
                f"{tenant_id}/{name}",
                at=self._clock.now(),
                tenant_id=tenant_id,
                nominal=quota.nominal,
                borrowing_limit=quota.borrowing_limit,
                lending_limit=quota.lending_limit,
            )
            uow.commit()
        self._on_change()
        return quota

    def delete_quota(self, principal: Principal, tenant_id: TenantId, flavor: str) -> None:
        """Remove a tenant's quota for one flavor (404 when it has none)."""
        require(principal, Permission.QUOTA_WRITE)
        try:
            name = canonical_flavor(flavor)
        except InvalidInput:
            name = flavor.strip()  # a row for a model the catalog no longer knows
        with self._store.unit_of_work() as uow:
            require_tenant(uow, tenant_id)
            if not uow.tenancy.delete_quota(tenant_id, name):
                raise NotFound(
                    f"Tenant {tenant_id!r} has no quota for {name!r}.",
                    field="flavor",
                    hint=f"list its quotas with `suanli quota list {tenant_id}`.",
                )
            record(
                uow,
                principal,
                AuditAction.QUOTA_DELETE,
                f"{tenant_id}/{name}",
                at=self._clock.now(),
                tenant_id=tenant_id,
            )
            uow.commit()
        self._on_change()
