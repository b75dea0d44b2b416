"""Tenants' scheduling settings: fair-share weights, cohorts and quotas (operator; a
consumer may read its own tenant's)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from suanli.api.access import Scope, access
from suanli.api.schemas import QuotaIn, QuotaPublic, TenantPublic, TenantShareIn
from suanli.api.security import Caller, Plat
from suanli.domain.errors import NotFound
from suanli.domain.ids import TenantId
from suanli.domain.permissions import Permission

router = APIRouter(tags=["tenants"])


@router.get("/tenants", response_model=list[TenantPublic])
@access(Permission.QUOTA_READ, Scope.TENANT)
def list_tenants(caller: Caller, plat: Plat) -> list[TenantPublic]:
    """Tenants with their fair-share weight, cohort and quotas (a consumer: its own)."""
    return [TenantPublic.of(t) for t in plat.tenancy.tenants(caller)]


@router.put("/tenants/{tenant_id}/share", response_model=TenantPublic)
@access(Permission.QUOTA_WRITE, Scope.PLATFORM)
def set_share(tenant_id: str, body: TenantShareIn, caller: Caller, plat: Plat) -> TenantPublic:
    """Set a tenant's fair-share weight and cohort (operator). A null or absent cohort
    takes the tenant out of its cohort."""
    plat.tenancy.set_share(caller, TenantId(tenant_id), weight=body.weight, cohort=body.cohort)
    return _tenant(caller, plat, TenantId(tenant_id))


@router.get("/tenants/{tenant_id}/quotas", response_model=list[QuotaPublic])
@access(Permission.QUOTA_READ, Scope.TENANT)
def list_quotas(tenant_id: str, caller: Caller, plat: Plat) -> list[QuotaPublic]:
    """A tenant's quotas; `cpu` amounts in cores, `gpu:<model>` in devices."""
    return [QuotaPublic.of(q) for q in plat.tenancy.quotas(caller, TenantId(tenant_id))]


@router.put("/tenants/{tenant_id}/quotas/{flavor}", response_model=QuotaPublic)
@access(Permission.QUOTA_WRITE, Scope.PLATFORM)
def set_quota(
    tenant_id: str, flavor: str, body: QuotaIn, caller: Caller, plat: Plat
) -> QuotaPublic:
    """Create or replace a tenant's quota for a flavor, `cpu` (cores) or `gpu:<model>`
    (devices; the model is canonicalised, e.g. gpu:h100 -> gpu:H100) (operator)."""
    quota = plat.tenancy.set_quota(
        caller,
        TenantId(tenant_id),
        flavor,
        nominal=body.nominal,
        borrowing_limit=body.borrowing_limit,
        lending_limit=body.lending_limit,
    )
    return QuotaPublic.of(quota)


@router.delete("/tenants/{tenant_id}/quotas/{flavor}", status_code=204)
@access(Permission.QUOTA_WRITE, Scope.PLATFORM)
def delete_quota(tenant_id: str, flavor: str, caller: Caller, plat: Plat) -> Response:
    """Remove a tenant's quota for a flavor (operator)."""
    plat.tenancy.delete_quota(caller, TenantId(tenant_id), flavor)
    return Response(status_code=204)


def _tenant(caller: Caller, plat: Plat, tenant_id: TenantId) -> TenantPublic:
    found = next((t for t in plat.tenancy.tenants(caller) if t.tenant.id == tenant_id), None)
    if found is None:  # removed since: answer as any other unknown tenant
        raise NotFound(f"No tenant {tenant_id!r}.", field="tenant_id")
    return TenantPublic.of(found)
