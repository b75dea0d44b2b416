"""SQL repository of job logs, stored as ordered chunks uploaded by agents.

Agents sit behind firewalls and push; the API never reaches into a cluster to read logs.
Appends are idempotent: a chunk whose offset is already stored is skipped, so a retried
upload never duplicates output.

Each stream keeps at most `cap` bytes of output. Stored offsets equal the agent's
offsets up to the cap; the chunk that crosses it is cut there and the truncation marker
appended in the same row, so "more than `cap` bytes stored" means "truncated", and from
then on appends are accepted and dropped without a query beyond the size.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.engine import Connection

from suanli.adapters.store_sql.tables import jobs, log_chunks
from suanli.domain.errors import Conflict
from suanli.domain.ids import JobId
from suanli.domain.jobs import MAX_LOG_BYTES, JobStatus, log_truncation_marker

_FINAL = (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value)


class SqlLogRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def _where(self, job_id: JobId, attempt: int, stream: str) -> tuple[ColumnElement[bool], ...]:
        return (
            log_chunks.c.job_id == job_id,
            log_chunks.c.attempt == attempt,
            log_chunks.c.stream == stream,
        )

    def size(self, job_id: JobId, attempt: int, stream: str) -> int:
        query = select(
            func.coalesce(func.max(log_chunks.c.offset + func.length(log_chunks.c.data)), 0)
        ).where(*self._where(job_id, attempt, stream))
        return int(self._c.execute(query).scalar_one())

    def append(
        self,
        job_id: JobId,
        attempt: int,
        stream: str,
        offset: int,
        data: bytes,
        *,
        cap: int = MAX_LOG_BYTES,
    ) -> None:
        """See `LogRepo.append`."""
        size = self.size(job_id, attempt, stream)
        if size > cap:
            return  # truncated: the marker is stored; accept and drop the rest
        if offset > size:
            raise Conflict(
                f"Log chunk at offset {offset} leaves a gap (stored: {size} bytes).",
                hint=f"resend from offset {size}.",
            )
        data = data[size - offset :]  # drop what a retried upload already stored
        if len(data) > cap - size:
            data = data[: cap - size] + log_truncation_marker(cap)
        if data:
            self._c.execute(
                insert(log_chunks).values(
                    job_id=job_id, attempt=attempt, stream=stream, offset=size, data=data
                )
            )

    def read(self, job_id: JobId, attempt: int, stream: str, offset: int, limit: int) -> bytes:
        query = (
            select(log_chunks.c.offset, log_chunks.c.data)
            .where(
                *self._where(job_id, attempt, stream),
                log_chunks.c.offset + func.length(log_chunks.c.data) > offset,
            )
            .order_by(log_chunks.c.offset)
        )
        out = bytearray()
        for chunk_offset, data in self._c.execute(query):
            out += bytes(data)[max(0, offset - chunk_offset) :]
            if len(out) >= limit:
                break
        return bytes(out[:limit])

    def delete_of_jobs_ended_before(self, before: datetime) -> int:
        """See `LogRepo.delete_of_jobs_ended_before`."""
        ended = select(jobs.c.id).where(jobs.c.status.in_(_FINAL), jobs.c.ended_at < before)
        result = self._c.execute(delete(log_chunks).where(log_chunks.c.job_id.in_(ended)))
        return max(0, result.rowcount or 0)
