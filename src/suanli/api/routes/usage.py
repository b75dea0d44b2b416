"""Usage totals grouped by tenant, provider, region, cluster or job."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from suanli.api.schemas import UsageTotalPublic
from suanli.api.security import Caller, Plat
from suanli.domain.ids import TenantId

router = APIRouter(tags=["usage"])


@router.get("/usage", response_model=list[UsageTotalPublic])
def usage_totals(
    caller: Caller,
    plat: Plat,
    by: str = "tenant",
    tenant: str | None = None,
    since: datetime | None = None,
) -> list[UsageTotalPublic]:
    totals = plat.usage.totals(
        caller, by=by, tenant_id=TenantId(tenant) if tenant else None, since=since
    )
    return [
        UsageTotalPublic(
            key=t.key, dimension=t.dimension, amount=t.amount, seconds=t.seconds, jobs=t.jobs
        )
        for t in totals
    ]
