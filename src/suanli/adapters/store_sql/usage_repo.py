"""SQL repository of usage records and their aggregates (computed in the database)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from suanli.adapters.store_sql.tables import usage_records
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import ClusterId, JobId, ProviderId, RegionId, TenantId
from suanli.domain.usage import UsageRecord
from suanli.ports.store import UsageTotal

GROUPINGS = {
    "tenant": usage_records.c.tenant_id,
    "provider": usage_records.c.provider_id,
    "region": usage_records.c.region_id,
    "cluster": usage_records.c.cluster_id,
    "job": usage_records.c.job_id,
}


class SqlUsageRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        self._c.execute(
            insert(usage_records),
            [
                {
                    "job_id": r.job_id,
                    "attempt": r.attempt,
                    "tenant_id": r.tenant_id,
                    "provider_id": r.provider_id,
                    "region_id": r.region_id,
                    "cluster_id": r.cluster_id,
                    "dimension": r.dimension,
                    "quantity": r.quantity,
                    "started_at": r.started_at,
                    "ended_at": r.ended_at,
                    "seconds": r.seconds,
                }
                for r in records
            ],
        )

    def for_job(self, job_id: JobId) -> list[UsageRecord]:
        return self.for_jobs([job_id]).get(job_id, [])

    def for_jobs(self, job_ids: Sequence[JobId]) -> dict[JobId, list[UsageRecord]]:
        query = (
            select(usage_records)
            .where(usage_records.c.job_id.in_(list(job_ids)))
            .order_by(usage_records.c.job_id, usage_records.c.attempt, usage_records.c.dimension)
        )
        out: dict[JobId, list[UsageRecord]] = {}
        for record in [
            UsageRecord(
                job_id=JobId(r.job_id),
                attempt=r.attempt,
                tenant_id=TenantId(r.tenant_id),
                provider_id=ProviderId(r.provider_id),
                region_id=RegionId(r.region_id),
                cluster_id=ClusterId(r.cluster_id),
                dimension=r.dimension,
                quantity=r.quantity,
                started_at=r.started_at,
                ended_at=r.ended_at,
                seconds=r.seconds,
            )
            for r in self._c.execute(query)
        ]:
            out.setdefault(record.job_id, []).append(record)
        return out

    def totals(
        self, *, by: str, tenant_id: TenantId | None, since: datetime | None
    ) -> list[UsageTotal]:
        if by not in GROUPINGS:
            raise InvalidInput(
                f"Cannot group usage by {by!r}.",
                field="by",
                hint=f"use one of {', '.join(GROUPINGS)}.",
            )
        key = GROUPINGS[by]
        query = select(
            key.label("key"),
            usage_records.c.dimension,
            func.sum(usage_records.c.quantity * usage_records.c.seconds).label("amount"),
            func.sum(usage_records.c.seconds).label("seconds"),
            func.count(func.distinct(usage_records.c.job_id)).label("jobs"),
        ).group_by(key, usage_records.c.dimension)
        if tenant_id is not None:
            query = query.where(usage_records.c.tenant_id == tenant_id)
        if since is not None:
            query = query.where(usage_records.c.ended_at >= since)
        rows = self._c.execute(query.order_by(key, usage_records.c.dimension))
        return [
            UsageTotal(
                str(r.key), r.dimension, float(r.amount or 0), int(r.seconds or 0), int(r.jobs)
            )
            for r in rows
        ]
