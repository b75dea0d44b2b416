"""Meter one finished attempt.

An attempt is billed from its engine-reported start to its end in whole seconds: both
ends are truncated to the second, so back-to-back attempts of one job never count a
shared second twice. The period is split at UTC midnights, so each record lies within
one day and daily totals are exact sums. Each dimension of the attempt's allocation
(cores, memory, devices) gets a record; ratings turn device-seconds into standard
compute-hours (`suanli.logic.metering.ratings`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from suanli.domain.ids import ProviderId, TenantId
from suanli.domain.jobs import Attempt
from suanli.domain.standard import Sector, WorkloadClass
from suanli.domain.usage import CPU, GPU_PREFIX, MEMORY, UsageRecord

DAY = 86_400


@dataclass(frozen=True, slots=True)
class MeteringContext:
    tenant_id: TenantId
    provider_id: ProviderId
    sector: Sector
    workload: WorkloadClass
    ratings: Mapping[str, float | None]
    """PFLOPS per unit for each dimension (missing or None: unrated)."""


def whole_seconds(started_at: datetime, ended_at: datetime) -> int:
    """Seconds between two instants, each truncated to its second; never negative."""
    start = math.floor(started_at.timestamp())
    end = math.floor(ended_at.timestamp())
    return max(0, end - start)


def day_segments(started_at: datetime, ended_at: datetime) -> Iterator[tuple[datetime, int]]:
    """(segment start, whole seconds) for each UTC day the period touches, in order; the
    seconds add up to `whole_seconds(started_at, ended_at)`."""
    start = math.floor(started_at.timestamp())
    end = math.floor(ended_at.timestamp())
    while start < end:
        boundary = min(end, (start // DAY + 1) * DAY)
        yield datetime.fromtimestamp(start, UTC), boundary - start
        start = boundary


def meter_attempt(attempt: Attempt, ctx: MeteringContext) -> list[UsageRecord]:
    """Usage records for a finished attempt; empty if it never started or has no end. An
    attempt shorter than its first second boundary yields one zero-second segment, so
    that every attempt that ran is on record."""
    if attempt.started_at is None or attempt.ended_at is None:
        return []
    segments = list(day_segments(attempt.started_at, attempt.ended_at)) or [
        (datetime.fromtimestamp(math.floor(attempt.started_at.timestamp()), UTC), 0)
    ]
    alloc = attempt.allocation
    dims: list[tuple[str, float]] = [(CPU, alloc.cpus), (MEMORY, float(alloc.memory_mb))]
    dims += [(GPU_PREFIX + model, float(n)) for model, n in alloc.gpus.items()]
    records = []
    for seg_start, seconds in segments:
        seg_end = seg_start + timedelta(seconds=seconds)
        for dim, qty in dims:
            if not qty:
                continue
            rating = None if dim == MEMORY else ctx.ratings.get(dim)
            records.append(
                UsageRecord(
                    job_id=attempt.job_id,
                    attempt=attempt.number,
                    tenant_id=ctx.tenant_id,
                    provider_id=ctx.provider_id,
                    region_id=attempt.region_id,
                    cluster_id=attempt.cluster_id,
                    node_id=attempt.node_id,
                    sector=ctx.sector,
                    workload_class=ctx.workload,
                    dimension=dim,
                    quantity=qty,
                    started_at=seg_start,
                    ended_at=seg_end,
                    seconds=seconds,
                    rating_pflops=rating,
                    standard_units=qty * seconds * rating / 3600 if rating is not None else None,
                )
            )
    return records
