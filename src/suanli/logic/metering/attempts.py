"""Meter one finished attempt.

An attempt is billed from its engine-reported start to its end in whole seconds. Both
ends are truncated to the second, so that
back-to-back attempts of one job never count the same second twice.
"""

from __future__ import annotations

import math
from datetime import datetime

from suanli.domain.ids import ProviderId, TenantId
from suanli.domain.jobs import Attempt
from suanli.domain.usage import CPU, GPU_PREFIX, MEMORY, UsageRecord


def whole_seconds(started_at: datetime, ended_at: datetime) -> int:
    """Seconds between two instants, each truncated to its second; never negative."""
    start = math.floor(started_at.timestamp())
    end = math.floor(ended_at.timestamp())
    return max(0, end - start)


def meter_attempt(
    attempt: Attempt, *, tenant_id: TenantId, provider_id: ProviderId
) -> list[UsageRecord]:
    """Usage records for a finished attempt; empty if it never started or has no end."""
    if attempt.started_at is None or attempt.ended_at is None:
        return []
    seconds = whole_seconds(attempt.started_at, attempt.ended_at)
    alloc = attempt.allocation
    dims: list[tuple[str, float]] = [(CPU, alloc.cpus), (MEMORY, float(alloc.memory_mb))]
    dims += [(GPU_PREFIX + model, float(n)) for model, n in alloc.gpus.items()]
    return [
        UsageRecord(
            job_id=attempt.job_id,
            attempt=attempt.number,
            tenant_id=tenant_id,
            provider_id=provider_id,
            region_id=attempt.region_id,
            cluster_id=attempt.cluster_id,
            dimension=dim,
            quantity=qty,
            started_at=attempt.started_at,
            ended_at=attempt.ended_at,
            seconds=seconds,
        )
        for dim, qty in dims
        if qty
    ]
