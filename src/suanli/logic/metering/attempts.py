"""Meter one finished attempt.

An attempt is metered from its engine-reported start to its end in milliseconds: both
ends are truncated to the millisecond, so back-to-back attempts of one job never count a
shared millisecond twice, and a sub-second attempt is metered for what it used (a
stream of short jobs is never free). The period is split at UTC midnights, so each
record lies within one day and daily totals are exact sums. Each dimension of the
attempt's allocation (cores, memory, devices) gets a record; ratings turn
device-seconds into standard compute-hours (`suanli.logic.metering.ratings`).

A gang's attempt holds several placements (node, allocation), each node rated on its own
hardware. Usage is unique per attempt, dimension and day, so a gang gets one record per
dimension: `quantity` is the sum over its placements, `standard_units` the sum of each
placement's quantity x its node's rating, and `rating_pflops` their quantity-weighted mean
(placements on unrated hardware count for no standard units; the record is unrated only
when none of them is rated). `node_id` names the first node.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from suanli.domain.ids import NodeId, ProviderId, TenantId
from suanli.domain.jobs import Attempt, Placement
from suanli.domain.standard import Sector, WorkloadClass
from suanli.domain.usage import CPU, GPU_PREFIX, MEMORY, UsageRecord
from suanli.logic.metering.ratings import standard_units

DAY_MS = 86_400_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class MeteringContext:
    tenant_id: TenantId
    provider_id: ProviderId
    sector: Sector
    workload: WorkloadClass
    ratings: Mapping[str, float | None]
    """PFLOPS per unit for each dimension (missing or None: unrated)."""
    node_ratings: Mapping[NodeId, Mapping[str, float | None]] = field(default_factory=dict)
    """Per node of a gang's placements: its ratings; a node missing here uses `ratings`."""


def epoch_ms(at: datetime) -> int:
    """Milliseconds since the epoch, truncated (exact: from the datetime's integer parts,
    not a float timestamp)."""
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def whole_ms(started_at: datetime, ended_at: datetime) -> int:
    """Milliseconds between two instants, each truncated to its millisecond; never
    negative."""
    return max(0, epoch_ms(ended_at) - epoch_ms(started_at))


def day_segments(started_at: datetime, ended_at: datetime) -> Iterator[tuple[datetime, int]]:
    """(segment start, milliseconds) for each UTC day the period touches, in order; the
    milliseconds add up to `whole_ms(started_at, ended_at)`."""
    start = epoch_ms(started_at)
    end = epoch_ms(ended_at)
    while start < end:
        boundary = min(end, (start // DAY_MS + 1) * DAY_MS)
        yield EPOCH + timedelta(milliseconds=start), boundary - start
        start = boundary


def meter_attempt(attempt: Attempt, ctx: MeteringContext) -> list[UsageRecord]:
    """Usage records for a finished attempt; empty if it never started or has no end. An
    attempt shorter than its first second boundary yields one zero-second segment, so
    that every attempt that ran is on record."""
    if attempt.started_at is None or attempt.ended_at is None:
        return []
    segments = list(day_segments(attempt.started_at, attempt.ended_at)) or [
        (EPOCH + timedelta(milliseconds=epoch_ms(attempt.started_at)), 0)
    ]
    dims = _dimensions(attempt, ctx)
    records = []
    for seg_start, ms in segments:
        seg_end = seg_start + timedelta(milliseconds=ms)
        for dim, (qty, rating) in dims.items():
            if not qty:
                continue
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
                    milliseconds=ms,
                    rating_pflops=rating,
                    standard_units=standard_units(qty, ms, rating),
                )
            )
    return records


def _dimensions(attempt: Attempt, ctx: MeteringContext) -> dict[str, tuple[float, float | None]]:
    """(quantity, rating per unit) of each dimension, summed over the attempt's placements
    (one for an ordinary job); the rating is the quantity-weighted mean of the rated
    placements' ratings, None when none is rated (memory is never rated)."""
    shares = attempt.placements or (Placement(attempt.node_id, attempt.allocation),)
    parts: dict[str, list[tuple[float, float | None]]] = {}
    for share in shares:
        ratings = ctx.node_ratings.get(share.node_id, ctx.ratings)
        alloc = share.allocation
        dims = [(CPU, alloc.cpus), (MEMORY, float(alloc.memory_mb))]
        dims += [(GPU_PREFIX + model, float(n)) for model, n in alloc.gpus.items()]
        for dim, qty in dims:
            if qty:
                rating = None if dim == MEMORY else ratings.get(dim)
                parts.setdefault(dim, []).append((qty, rating))
    out: dict[str, tuple[float, float | None]] = {}
    for dim, items in parts.items():
        if len(items) == 1:
            out[dim] = items[0]
            continue
        total = sum(q for q, _ in items)
        rated = [(q, r) for q, r in items if r is not None]
        out[dim] = (total, sum(q * r for q, r in rated) / total if rated else None)
    return out
