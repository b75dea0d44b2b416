"""Sampling and reading the pool's and the queue's history (domain/history.py).

A platform loop calls `HistoryService.maybe_sample` each period; it samples at most once
per `period_s` (the first call always does) and, at most once an hour, deletes raw samples
older than `RAW_RETENTION_DAYS` and rollups older than `keep_days`. Readers get each
series averaged into buckets, from raw samples or from rollups by the span.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from suanli.domain.errors import InvalidInput
from suanli.domain.history import (
    HISTORY_RETENTION_DAYS,
    HISTORY_SAMPLE_PERIOD_S,
    MAX_HISTORY_HOURS,
    RAW,
    RAW_RETENTION_DAYS,
    ROLLUP_S,
    History,
    PoolSample,
    PoolSeries,
    QueueSample,
    history_step,
)
from suanli.domain.jobs import JobStatus
from suanli.domain.permissions import Permission, require
from suanli.domain.pool import ClusterState
from suanli.domain.tenancy import Principal
from suanli.ports.clock import Clock
from suanli.ports.store import Store, UnitOfWork
from suanli.services.loops import Throttle
from suanli.services.pool import cluster_occupancy

log = logging.getLogger("suanli.history")

PURGE_EVERY_S = 3600.0


class HistoryService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        period_s: float = HISTORY_SAMPLE_PERIOD_S,
        keep_days: float = HISTORY_RETENTION_DAYS,
    ) -> None:
        if not (period_s > 0 and keep_days > 0):
            raise ValueError("history needs a positive sample period and retention")
        self._store = store
        self._clock = clock
        self.period_s = period_s
        self.keep_days = keep_days
        self._sampling = Throttle(clock, period_s)
        self._purging = Throttle(clock, PURGE_EVERY_S)

    def sample(self) -> int:
        """Record the pool and the queue now, in one transaction; returns how many pool
        series were written."""
        now = self._clock.now()
        at_s = int(now.timestamp())
        with self._store.unit_of_work() as uow:
            pool = pool_samples(uow, at_s)
            uow.history.add_samples(pool, queue_sample(uow, at_s), ROLLUP_S)
            uow.commit()
        self._sampling.mark()
        return len(pool)

    def maybe_sample(self) -> int:
        """`sample` unless the last one is less than `period_s` old, then the hourly
        purge; returns the pool series written (0 when it did not sample)."""
        written = self.sample() if self._sampling.due() else 0
        if self._purging.due():
            self.purge()
        return written

    def purge(self) -> int:
        """Delete raw samples older than `RAW_RETENTION_DAYS` and rollups older than
        `keep_days` (raw ones too, if that is sooner); returns the rows deleted."""
        now = self._clock.now()
        rollups = now - timedelta(days=self.keep_days)
        raw = max(rollups, now - timedelta(days=RAW_RETENTION_DAYS))
        with self._store.unit_of_work() as uow:
            gone = uow.history.purge_before(RAW, int(raw.timestamp()))
            gone += uow.history.purge_before(ROLLUP_S, int(rollups.timestamp()))
            uow.commit()
        if gone:
            log.info("deleted %d history samples older than %g days", gone, self.keep_days)
        return gone

    def read(self, principal: Principal, *, hours: float) -> History:
        """The last `hours` of every pool series and of the queue, each averaged into
        at most `MAX_POINTS` buckets. The queue counts every tenant's jobs: a number,
        like the pool's use, that says how busy the city is, not whose jobs wait."""
        require(principal, Permission.POOL_READ)
        if not (0 < hours <= MAX_HISTORY_HOURS):
            raise InvalidInput(
                f"hours={hours!r} is out of range.",
                field="hours",
                hint=f"ask for more than 0 and at most {MAX_HISTORY_HOURS:g} hours "
                f"(samples are kept {self.keep_days:g} days).",
            )
        until = self._clock.now()
        since = until - timedelta(hours=hours)
        resolution, step = history_step(hours * 3600.0, period_s=self.period_s)
        since_s, until_s = int(since.timestamp()), int(until.timestamp()) + 1
        if resolution != RAW:  # whole windows: the one `since` falls in, on
            since_s -= since_s % resolution
        with self._store.unit_of_work(readonly=True) as uow:
            rows = uow.history.pool_series(resolution, since_s, until_s, step)
            queue = uow.history.queue_series(resolution, since_s, until_s, step)
        series: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
        for region, resource, at_s, total, used in rows:
            series.setdefault((region, resource), []).append((at_s, total, used))
        return History(
            since=since,
            until=until,
            step_s=step,
            pool=tuple(PoolSeries(r, res, tuple(p)) for (r, res), p in series.items()),
            queue=tuple(queue),
        )


def pool_samples(uow: UnitOfWork, at_s: int) -> list[PoolSample]:
    """Capacity and use of READY clusters by region and resource: a cluster that is
    down or unreachable offers nothing, and its drop shows in the chart."""
    sums: dict[tuple[str, str], list[float]] = {}
    for usage in cluster_occupancy(uow):
        if usage.cluster.state is not ClusterState.READY:
            continue
        region = usage.cluster.region_id
        for node in usage.nodes:
            cells = [("cpu", node.node.capacity.cpus, node.used.cpus)]
            cells += [
                (f"gpu:{model}", float(total), float(node.used.gpus.get(model, 0)))
                for model, total in node.node.capacity.gpus.items()
            ]
            for resource, total, used in cells:
                cell = sums.setdefault((region, resource), [0.0, 0.0])
                cell[0] += total
                cell[1] += used
    return [
        PoolSample(at_s, region, resource, total, used)
        for (region, resource), (total, used) in sorted(sums.items())
    ]


def queue_sample(uow: UnitOfWork, at_s: int) -> QueueSample:
    pending = running = 0
    for _tenant, status, n in uow.jobs.counts():
        if status is JobStatus.PENDING:
            pending += n
        elif status in (JobStatus.SCHEDULED, JobStatus.RUNNING):
            running += n
    return QueueSample(at_s, pending, running)


def iso(at_s: int) -> str:
    """A bucket's start as ISO 8601 in UTC."""
    return datetime.fromtimestamp(at_s, UTC).isoformat()
