"""SQL repository of usage records and their aggregates (computed in the database)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, insert, literal, select
from sqlalchemy.engine import Connection

from suanli.adapters.store_sql.tables import usage_records
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId
from suanli.domain.standard import Sector, WorkloadClass
from suanli.domain.usage import UsageRecord
from suanli.ports.store import UsageTotal

u = usage_records
_INSERT = insert(u)


def _grouping(name: str) -> ColumnElement[Any]:
    columns: dict[str, ColumnElement[Any]] = {
        "tenant": u.c.tenant_id,
        "provider": u.c.provider_id,
        "region": u.c.region_id,
        "cluster": u.c.cluster_id,
        "job": u.c.job_id,
        "sector": u.c.sector,
        "device": u.c.dimension,
        "class": u.c.workload_class,
    }
    if name == "day":
        return u.c.day
    if name not in columns:
        raise InvalidInput(
            f"Cannot group usage by {name!r}.",
            field="by",
            hint=f"use one or more of {', '.join([*columns, 'day'])}, comma-separated.",
        )
    return columns[name]


def _record(r: Any) -> UsageRecord:
    return UsageRecord(
        job_id=JobId(r.job_id),
        attempt=r.attempt,
        tenant_id=TenantId(r.tenant_id),
        provider_id=ProviderId(r.provider_id),
        region_id=RegionId(r.region_id),
        cluster_id=ClusterId(r.cluster_id),
        node_id=NodeId(r.node_id),
        sector=Sector(r.sector),
        workload_class=WorkloadClass(r.workload_class),
        dimension=r.dimension,
        quantity=r.quantity,
        started_at=r.started_at,
        ended_at=r.ended_at,
        milliseconds=r.milliseconds,
        rating_pflops=r.rating_pflops,
        standard_units=r.standard_units,
    )


class SqlUsageRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        self._c.execute(
            _INSERT,
            [
                {
                    "job_id": r.job_id,
                    "attempt": r.attempt,
                    "tenant_id": r.tenant_id,
                    "provider_id": r.provider_id,
                    "region_id": r.region_id,
                    "cluster_id": r.cluster_id,
                    "node_id": r.node_id,
                    "sector": r.sector.value,
                    "workload_class": r.workload_class.value,
                    "dimension": r.dimension,
                    "quantity": r.quantity,
                    "started_at": r.started_at,
                    "ended_at": r.ended_at,
                    # records never span a UTC day (metering splits them at midnight)
                    "day": r.started_at.astimezone(UTC).date().isoformat(),
                    "milliseconds": r.milliseconds,
                    "rating_pflops": r.rating_pflops,
                    "standard_units": r.standard_units,
                }
                for r in records
            ],
        )

    def for_job(self, job_id: JobId) -> list[UsageRecord]:
        return self.for_jobs([job_id]).get(job_id, [])

    def for_jobs(self, job_ids: Sequence[JobId]) -> dict[JobId, list[UsageRecord]]:
        query = (
            select(u)
            .where(u.c.job_id.in_(list(job_ids)))
            .order_by(u.c.job_id, u.c.attempt, u.c.started_at, u.c.dimension)
        )
        out: dict[JobId, list[UsageRecord]] = {}
        for row in self._c.execute(query):
            record = _record(row)
            out.setdefault(record.job_id, []).append(record)
        return out

    def totals(
        self,
        *,
        by: tuple[str, ...],
        tenant_id: TenantId | None,
        since: datetime | None,
        until: datetime | None = None,
        provider_id: ProviderId | None = None,
    ) -> list[UsageTotal]:
        """Sums per group, workload class and dimension. Standard units are only ever
        summed within one class (an AI SCH and an HPC SCH are different units)."""
        keys = [_grouping(name) for name in by] or [literal("all")]
        key = _joined(keys)
        query = select(
            key.label("key"),
            u.c.workload_class,
            u.c.dimension,
            func.sum(u.c.quantity * u.c.milliseconds).label("amount_ms"),
            func.sum(u.c.milliseconds).label("milliseconds"),
            func.count(func.distinct(u.c.job_id)).label("jobs"),
            func.sum(u.c.standard_units).label("standard_units"),
            func.sum(
                case(
                    (
                        u.c.rating_pflops.is_(None) & (u.c.dimension != "memory"),
                        u.c.quantity * u.c.milliseconds,
                    ),
                    else_=0.0,
                )
            ).label("unrated"),
        ).group_by(*keys, u.c.workload_class, u.c.dimension)
        if tenant_id is not None:
            query = query.where(u.c.tenant_id == tenant_id)
        if provider_id is not None:
            query = query.where(u.c.provider_id == provider_id)
        if since is not None:
            query = query.where(u.c.started_at >= since)
        if until is not None:
            query = query.where(u.c.started_at < until)
        rows = self._c.execute(query.order_by(*keys, u.c.workload_class, u.c.dimension))
        return [
            UsageTotal(
                key=str(r.key),
                workload_class=r.workload_class,
                dimension=r.dimension,
                amount=float(r.amount_ms or 0) / 1000,
                seconds=int(r.milliseconds or 0) / 1000,
                jobs=int(r.jobs),
                standard_units=float(r.standard_units or 0),
                unrated_amount=float(r.unrated or 0) / 1000,
            )
            for r in rows
        ]

    def units_by_tenant_day(self, since_day: str) -> list[tuple[TenantId, str, float]]:
        """Standard units per tenant and UTC day, summed over classes and dimensions
        (unrated records count 0). Read off ix_usage_records_tenant_day_cover, which holds
        every column used here."""
        query = (
            select(
                u.c.tenant_id,
                u.c.day,
                func.sum(func.coalesce(u.c.standard_units, 0.0)).label("units"),
            )
            .where(u.c.day >= since_day)
            .group_by(u.c.tenant_id, u.c.day)
            .order_by(u.c.tenant_id, u.c.day)
        )
        return [
            (TenantId(r.tenant_id), str(r.day), float(r.units or 0)) for r in self._c.execute(query)
        ]


def _joined(keys: list[ColumnElement[Any]]) -> ColumnElement[Any]:
    """'a/b/c' with SQL's standard || (SQLite and PostgreSQL alike)."""
    out = keys[0]
    for k in keys[1:]:
        out = out.concat("/").concat(k)
    return out
