"""SQL repository of the pool and queue samples (domain/history.py).

Each sample is written raw (resolution 0) and added into its rollup window (sums and a
count). Reads average the rows of one resolution into buckets in the database (`GROUP
BY` on integer division of Unix seconds; sum / count, so raw rows and rollups read the
same way), so a series comes back as at most `MAX_POINTS` rows without moving the stored
rows into Python.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Connection

from suanli.adapters.store_sql.tables import pool_samples, queue_samples
from suanli.domain.history import RAW, PoolSample, QueueSample

_P = pool_samples.c
_Q = queue_samples.c


class SqlHistoryRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add_samples(self, pool: Sequence[PoolSample], queue: QueueSample, rollup_s: int) -> None:
        """See `HistoryRepo.add_samples`."""
        seen = self._c.execute(
            select(_Q.at_s).where(_Q.resolution_s == RAW, _Q.at_s == queue.at_s)
        ).first()
        if seen is not None:
            return
        window = queue.at_s - queue.at_s % rollup_s
        self._c.execute(
            insert(queue_samples),
            [
                {
                    "resolution_s": RAW,
                    "at_s": queue.at_s,
                    "pending": queue.pending,
                    "running": queue.running,
                    "samples": 1,
                }
            ],
        )
        added = self._c.execute(
            update(queue_samples)
            .where(_Q.resolution_s == rollup_s, _Q.at_s == window)
            .values(
                pending=_Q.pending + queue.pending,
                running=_Q.running + queue.running,
                samples=_Q.samples + 1,
            )
        ).rowcount
        if not added:
            self._c.execute(
                insert(queue_samples),
                [
                    {
                        "resolution_s": rollup_s,
                        "at_s": window,
                        "pending": queue.pending,
                        "running": queue.running,
                        "samples": 1,
                    }
                ],
            )
        if pool:
            self._add_pool(pool, rollup_s)

    def _add_pool(self, pool: Sequence[PoolSample], rollup_s: int) -> None:
        rows = [
            {
                "resolution_s": RAW,
                "at_s": s.at_s,
                "region_id": s.region_id,
                "resource": s.resource,
                "total": s.total,
                "used": s.used,
                "samples": 1,
            }
            for s in pool
        ]
        self._c.execute(insert(pool_samples), rows)
        window = pool[0].at_s - pool[0].at_s % rollup_s
        known = {
            (r, res)
            for r, res in self._c.execute(
                select(_P.region_id, _P.resource).where(
                    _P.resolution_s == rollup_s, _P.at_s == window
                )
            )
        }
        rolled = [{**row, "resolution_s": rollup_s, "at_s": window} for row in rows]
        fresh = [r for r in rolled if (r["region_id"], r["resource"]) not in known]
        old = [r for r in rolled if (r["region_id"], r["resource"]) in known]
        if fresh:
            self._c.execute(insert(pool_samples), fresh)
        if old:
            self._c.execute(
                update(pool_samples)
                .where(
                    and_(
                        _P.resolution_s == rollup_s,
                        _P.at_s == window,
                        _P.region_id == bindparam("k_region"),
                        _P.resource == bindparam("k_resource"),
                    )
                )
                .values(
                    total=_P.total + bindparam("d_total"),
                    used=_P.used + bindparam("d_used"),
                    samples=_P.samples + 1,
                ),
                [
                    {
                        "k_region": r["region_id"],
                        "k_resource": r["resource"],
                        "d_total": r["total"],
                        "d_used": r["used"],
                    }
                    for r in old
                ],
            )

    def pool_series(
        self, resolution_s: int, since_s: int, until_s: int, step_s: int
    ) -> list[tuple[str, str, int, float, float]]:
        bucket = _bucket(_P.at_s, since_s, step_s)
        n = func.sum(_P.samples)
        query = (
            select(
                _P.region_id,
                _P.resource,
                bucket.label("bucket"),
                func.sum(_P.total) / n,
                func.sum(_P.used) / n,
            )
            .where(_P.resolution_s == resolution_s, _P.at_s >= since_s, _P.at_s < until_s)
            .group_by(_P.region_id, _P.resource, bucket)
            .order_by(_P.region_id, _P.resource, bucket)
        )
        return [
            (str(r), str(res), since_s + int(b) * step_s, float(total), float(used))
            for r, res, b, total, used in self._c.execute(query)
        ]

    def queue_series(
        self, resolution_s: int, since_s: int, until_s: int, step_s: int
    ) -> list[tuple[int, float, float]]:
        bucket = _bucket(_Q.at_s, since_s, step_s)
        n = func.sum(_Q.samples) * 1.0  # real division on both databases
        query = (
            select(bucket.label("bucket"), func.sum(_Q.pending) / n, func.sum(_Q.running) / n)
            .where(_Q.resolution_s == resolution_s, _Q.at_s >= since_s, _Q.at_s < until_s)
            .group_by(bucket)
            .order_by(bucket)
        )
        return [
            (since_s + int(b) * step_s, float(p), float(r)) for b, p, r in self._c.execute(query)
        ]

    def purge_before(self, resolution_s: int, at_s: int) -> int:
        gone = self._c.execute(
            delete(pool_samples).where(_P.resolution_s == resolution_s, _P.at_s < at_s)
        ).rowcount
        gone += self._c.execute(
            delete(queue_samples).where(_Q.resolution_s == resolution_s, _Q.at_s < at_s)
        ).rowcount
        return int(gone)


def _bucket(at_s: ColumnElement[int], since_s: int, step_s: int) -> ColumnElement[int]:
    """(at_s - since_s) // step_s, with the two numbers inlined: PostgreSQL accepts a
    SELECT expression in GROUP BY only if it is the same text, and two bound parameters
    would not be."""
    since = literal_column(str(int(since_s)), BigInteger)
    step = literal_column(str(int(step_s)), BigInteger)
    return (at_s - since) // step
