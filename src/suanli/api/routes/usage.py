"""Usage totals grouped by tenant, provider, region, cluster or job."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from suanli.api.access import Scope, access
from suanli.api.schemas import UsageTotalPublic
from suanli.api.security import Caller, Plat
from suanli.domain.catalog import default_catalog
from suanli.domain.ids import TenantId
from suanli.domain.permissions import Permission
from suanli.services.units import units_document

router = APIRouter(tags=["usage"])


@router.get("/units")
@access(None, Scope.PUBLIC)
def units() -> dict[str, Any]:
    """The metering standard: unit, classes, sectors, the device catalog with ratings."""
    return units_document(default_catalog())


@router.get("/usage", response_model=list[UsageTotalPublic])
@access(Permission.USAGE_READ, Scope.TENANT)
def usage_totals(
    caller: Caller,
    plat: Plat,
    by: Annotated[
        str,
        Query(
            description="comma-separated: tenant, provider, region, cluster, job, sector, "
            "device, class, day (UTC)"
        ),
    ] = "tenant",
    tenant: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[UsageTotalPublic]:
    """Usage totals per group, workload class and dimension, with standard units."""
    keys = tuple(k.strip() for k in by.split(",") if k.strip())
    totals = plat.usage.totals(
        caller,
        by=keys,
        tenant_id=TenantId(tenant) if tenant else None,
        since=_aware(since),
        until=_aware(until),
    )
    return [UsageTotalPublic(**asdict(t)) for t in totals]


def _aware(value: datetime | None) -> datetime | None:
    """Naive times are read as UTC (the unit of all stored times)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
