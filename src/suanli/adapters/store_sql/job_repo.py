"""SQL repository of jobs, their attempts and their event history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from suanli.adapters.store_sql.codec import (
    attempt_from_row,
    attempt_to_row,
    clip,
    job_from_row,
    job_to_row,
    placements_from_json,
)
from suanli.adapters.store_sql.tables import attempts, idempotency_keys, job_events, jobs
from suanli.domain.ids import ClusterId, JobId, NodeId, TenantId
from suanli.domain.jobs import Attempt, Job, JobEvent, JobStatus
from suanli.domain.resources import Resources
from suanli.ports.store import JobFilter

_HOLDING = (JobStatus.SCHEDULED.value, JobStatus.RUNNING.value)
_ENGINE_FAILED = case(
    (attempts.c.status == JobStatus.LOST.value, 1),
    (
        and_(attempts.c.status == JobStatus.FAILED.value, attempts.c.exit_code.is_(None)),
        1,
    ),
    else_=0,
)
_INSERT_JOBS = insert(jobs).returning(jobs.c.seq, sort_by_parameter_order=True)
_INSERT_EVENT = insert(job_events)


class SqlJobRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn
        self._for_update = conn.dialect.name != "sqlite"  # SQLite locks the whole file

    def add(self, job: Job) -> Job:
        return self.add_many([job])[0]

    def add_many(self, new_jobs: Sequence[Job]) -> list[Job]:
        # One executemany with RETURNING (SQLAlchemy's insertmanyvalues) for a whole
        # group-committed batch: the submit hot path. The statement is built once.
        rows = self._c.execute(_INSERT_JOBS, [job_to_row(j) for j in new_jobs]).all()
        return [replace(job, seq=int(row.seq)) for job, row in zip(new_jobs, rows, strict=True)]

    def get(self, job_id: JobId) -> Job | None:
        row = self._c.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return job_from_row(row) if row else None

    def get_for_update(self, job_id: JobId) -> Job | None:
        query = select(jobs).where(jobs.c.id == job_id)
        if self._for_update:
            query = query.with_for_update()
        row = self._c.execute(query).mappings().first()
        return job_from_row(row) if row else None

    def save(self, job: Job) -> None:
        self._c.execute(update(jobs).where(jobs.c.id == job.id).values(**job_to_row(job)))

    def search(self, flt: JobFilter) -> list[Job]:
        query: Select[Any] = select(jobs)
        if flt.tenant_id is not None:
            query = query.where(jobs.c.tenant_id == flt.tenant_id)
        if flt.statuses:
            query = query.where(jobs.c.status.in_([s.value for s in flt.statuses]))
        if flt.cluster_id is not None:
            query = query.where(jobs.c.cluster_id == flt.cluster_id)
        if flt.name:
            query = query.where(jobs.c.name == flt.name)
        if flt.array_id is not None:
            query = query.where(jobs.c.array_id == flt.array_id)
        if flt.after_seq is not None:
            query = query.where(jobs.c.seq > flt.after_seq)
        if flt.before_seq is not None:
            query = query.where(jobs.c.seq < flt.before_seq)
        order = jobs.c.seq.desc() if flt.newest_first else jobs.c.seq.asc()
        rows = self._c.execute(query.order_by(order).limit(flt.limit)).mappings()
        return [job_from_row(r) for r in rows]

    def counts(self) -> list[tuple[TenantId, JobStatus, int]]:
        query = select(jobs.c.tenant_id, jobs.c.status, func.count()).group_by(
            jobs.c.tenant_id, jobs.c.status
        )
        return [(TenantId(t), JobStatus(s), int(n)) for t, s, n in self._c.execute(query)]

    def pending_reasons(self) -> list[tuple[str, int]]:
        query = (
            select(jobs.c.reason, func.count())
            .where(jobs.c.status == JobStatus.PENDING.value)
            .group_by(jobs.c.reason)
        )
        return [(str(r or ""), int(n)) for r, n in self._c.execute(query)]

    def pending(self, limit: int) -> list[Job]:
        query = (
            select(jobs)
            .where(jobs.c.status == JobStatus.PENDING.value)
            .order_by(jobs.c.seq)
            .limit(limit)
        )
        return [job_from_row(r) for r in self._c.execute(query).mappings()]

    def changed_since(self, event_id: int) -> tuple[list[JobId], int]:
        query = select(job_events.c.id, job_events.c.job_id).where(job_events.c.id > event_id)
        rows = self._c.execute(query.order_by(job_events.c.id)).all()
        ids = list(dict.fromkeys(JobId(r.job_id) for r in rows))
        return ids, (rows[-1].id if rows else event_id)

    def last_event_id(self) -> int:
        return int(
            self._c.execute(select(func.coalesce(func.max(job_events.c.id), 0))).scalar_one()
        )

    def get_many(self, job_ids: Sequence[JobId]) -> list[Job]:
        out: list[Job] = []
        for start in range(0, len(job_ids), 500):  # stay under bind-parameter limits
            chunk = list(job_ids[start : start + 500])
            rows = self._c.execute(select(jobs).where(jobs.c.id.in_(chunk))).mappings()
            out += [job_from_row(r) for r in rows]
        return out

    def in_arrays(self, array_ids: Sequence[str]) -> list[Job]:
        out: list[Job] = []
        for start in range(0, len(array_ids), 500):
            chunk = list(array_ids[start : start + 500])
            query = select(jobs).where(jobs.c.array_id.in_(chunk)).order_by(jobs.c.seq)
            out += [job_from_row(r) for r in self._c.execute(query).mappings()]
        return out

    def active_on(self, cluster_id: ClusterId | None = None) -> list[Job]:
        query = select(jobs).where(jobs.c.status.in_(_HOLDING))
        if cluster_id is not None:
            query = query.where(jobs.c.cluster_id == cluster_id)
        return [job_from_row(r) for r in self._c.execute(query.order_by(jobs.c.seq)).mappings()]

    def allocations(self) -> list[tuple[ClusterId, NodeId, Resources]]:
        query = select(
            jobs.c.cluster_id, jobs.c.node_id, jobs.c.allocation, jobs.c.placements
        ).where(jobs.c.status.in_(_HOLDING))
        out: list[tuple[ClusterId, NodeId, Resources]] = []
        for r in self._c.execute(query):
            cluster = ClusterId(r.cluster_id)
            if r.placements:
                out.extend(
                    (cluster, p.node_id, p.allocation) for p in placements_from_json(r.placements)
                )
            else:
                out.append((cluster, NodeId(r.node_id), Resources.from_dict(r.allocation)))
        return out

    def set_reasons(self, reasons: Sequence[tuple[JobId, str]]) -> None:
        if not reasons:
            return
        statement = (
            update(jobs)
            .where(jobs.c.id == bindparam("job_id"), jobs.c.status == JobStatus.PENDING.value)
            .values(reason=bindparam("new_reason"))
        )
        self._c.execute(statement, [{"job_id": j, "new_reason": clip(r)} for j, r in reasons])

    def reserve_idempotency_key(
        self, tenant_id: TenantId, key: str, request_hash: str, job_id: JobId, at: datetime
    ) -> tuple[str, JobId] | None:
        # INSERT ... ON CONFLICT DO NOTHING: a concurrent transaction holding the same key
        # makes this one wait for it, then do nothing; the SELECT (a fresh snapshot under
        # READ COMMITTED, or SQLite's single writer) then sees the first use.
        upsert = pg_insert if self._c.dialect.name == "postgresql" else sqlite_insert
        # RETURNING, not rowcount: psycopg reports -1 for an upsert's rowcount
        inserted = self._c.execute(
            upsert(idempotency_keys)
            .values(
                tenant_id=tenant_id,
                key=key,
                request_hash=request_hash,
                job_id=job_id,
                created_at=at,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
            .returning(idempotency_keys.c.job_id)
        ).first()
        if inserted is not None:
            return None
        row = self._c.execute(
            select(idempotency_keys.c.request_hash, idempotency_keys.c.job_id).where(
                idempotency_keys.c.tenant_id == tenant_id, idempotency_keys.c.key == key
            )
        ).one()
        return str(row.request_hash), JobId(row.job_id)

    def forget_idempotency_keys(self, before: datetime) -> int:
        done = self._c.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < before)
        )
        return int(done.rowcount)

    def add_attempt(self, attempt: Attempt) -> None:
        self._c.execute(insert(attempts).values(**attempt_to_row(attempt)))

    def get_attempt(self, job_id: JobId, number: int) -> Attempt | None:
        row = (
            self._c.execute(
                select(attempts).where(attempts.c.job_id == job_id, attempts.c.number == number)
            )
            .mappings()
            .first()
        )
        return attempt_from_row(row) if row else None

    def save_attempt(self, attempt: Attempt) -> None:
        self._c.execute(
            update(attempts)
            .where(attempts.c.job_id == attempt.job_id, attempts.c.number == attempt.number)
            .values(**attempt_to_row(attempt))
        )

    def list_attempts(self, job_id: JobId) -> list[Attempt]:
        query = select(attempts).where(attempts.c.job_id == job_id).order_by(attempts.c.number)
        return [attempt_from_row(r) for r in self._c.execute(query).mappings()]

    def attempts_of(self, job_ids: Sequence[JobId]) -> dict[JobId, list[Attempt]]:
        out: dict[JobId, list[Attempt]] = {}
        for start in range(0, len(job_ids), 500):  # bound the IN list
            chunk = list(job_ids[start : start + 500])
            query = (
                select(attempts)
                .where(attempts.c.job_id.in_(chunk))
                .order_by(attempts.c.job_id, attempts.c.number)
            )
            for row in self._c.execute(query).mappings():
                attempt = attempt_from_row(row)
                out.setdefault(attempt.job_id, []).append(attempt)
        return out

    def undispatched_on(self, cluster_id: ClusterId, limit: int) -> list[Attempt]:
        query = (
            select(attempts)
            .where(
                attempts.c.cluster_id == cluster_id,
                attempts.c.status == JobStatus.SCHEDULED.value,
                attempts.c.dispatched_at.is_(None),
            )
            .order_by(attempts.c.scheduled_at)
            .limit(limit)
        )
        return [attempt_from_row(r) for r in self._c.execute(query).mappings()]

    def dispatched_active_on(self, cluster_id: ClusterId) -> list[Attempt]:
        query = select(attempts).where(
            attempts.c.cluster_id == cluster_id,
            attempts.c.status.in_(_HOLDING),
            attempts.c.dispatched_at.is_not(None),
        )
        return [attempt_from_row(r) for r in self._c.execute(query).mappings()]

    def cancel_requested_on(self, cluster_id: ClusterId) -> list[tuple[JobId, int]]:
        query = select(jobs.c.id, jobs.c.attempt).where(
            jobs.c.cluster_id == cluster_id,
            jobs.c.status.in_(_HOLDING),
            jobs.c.cancel_requested.is_(True),
        )
        return [(JobId(r.id), int(r.attempt)) for r in self._c.execute(query)]

    def preempt_requested_on(self, cluster_id: ClusterId) -> list[tuple[JobId, int]]:
        query = select(jobs.c.id, jobs.c.attempt).where(
            jobs.c.cluster_id == cluster_id,
            jobs.c.status.in_(_HOLDING),
            jobs.c.preempt_requested.is_(True),
            jobs.c.cancel_requested.is_(False),
        )
        return [(JobId(r.id), int(r.attempt)) for r in self._c.execute(query)]

    def add_event(self, event: JobEvent) -> None:
        self.add_events([event])

    def add_events(self, events: Sequence[JobEvent]) -> None:
        self._c.execute(
            _INSERT_EVENT,
            [
                {
                    "job_id": e.job_id,
                    "at": e.at,
                    "from_status": e.from_status.value if e.from_status else None,
                    "to_status": e.to_status.value,
                    "reason": clip(e.reason),
                    "attempt": e.attempt,
                }
                for e in events
            ],
        )

    def events(self, job_id: JobId) -> list[JobEvent]:
        query = select(job_events).where(job_events.c.job_id == job_id).order_by(job_events.c.id)
        return [
            JobEvent(
                job_id=JobId(r.job_id),
                at=r.at,
                from_status=JobStatus(r.from_status) if r.from_status else None,
                to_status=JobStatus(r.to_status),
                reason=r.reason,
                attempt=r.attempt,
            )
            for r in self._c.execute(query)
        ]

    def attempt_outcomes(self, since: datetime) -> dict[ClusterId, tuple[int, int]]:
        # An attempt has ended once it no longer holds resources; a withdrawn one (its
        # cluster went unreachable before its agent claimed it) ended LOST and counts.
        query = (
            select(
                attempts.c.cluster_id,
                func.count().label("ended"),
                func.sum(_ENGINE_FAILED).label("failed"),
            )
            .where(attempts.c.scheduled_at >= since, attempts.c.status.not_in(_HOLDING))
            .group_by(attempts.c.cluster_id)
        )
        return {
            ClusterId(r.cluster_id): (int(r.ended), int(r.failed or 0))
            for r in self._c.execute(query)
        }
