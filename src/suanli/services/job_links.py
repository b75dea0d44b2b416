"""Dependencies and array throttles in the live loop: read what the pending jobs depend
on, gate them (`logic/job_links.py`), and carry the verdicts out (reasons for the held
ones, cancellation for the ones whose dependency can never be met)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from suanli.domain.ids import JobId
from suanli.domain.jobs import Job, JobStatus
from suanli.logic.job_links import Gate, dependency_ids, gate
from suanli.ports.store import UnitOfWork
from suanli.services.lifecycle import move


def named_jobs(uow: UnitOfWork, ids: Sequence[str]) -> dict[str, list[Job]]:
    """For each id: the job it names, or every task of the array it names (ids that
    name nothing are absent)."""
    found: dict[str, list[Job]] = {}
    for job in uow.jobs.get_many([JobId(i) for i in ids]):
        found.setdefault(job.id, []).append(job)
    for job in uow.jobs.in_arrays(ids):
        if job.spec.array is not None:
            found.setdefault(job.spec.array.array_id, []).append(job)
    return found


def gate_pending(uow: UnitOfWork, pending: Sequence[Job], holding: Sequence[Job]) -> Gate:
    """Gate the pending jobs; reads only the jobs and arrays they depend on (nothing
    when none depends on another)."""
    if not any(j.spec.dependencies or j.spec.array for j in pending):
        return Gate(tuple(pending))
    # whose jobs may be named was checked at submission (JobService._check_dependencies)
    ids = sorted(dependency_ids(pending))
    found = {ref: [j.status for j in jobs] for ref, jobs in named_jobs(uow, ids).items()}
    return gate(pending, holding, found)


def carry_out_gate(
    uow: UnitOfWork, result: Gate, old_reasons: Mapping[JobId, str], now: datetime
) -> dict[JobId, str]:
    """Write the held jobs' reasons that changed, cancel the doomed ones (each re-read:
    it may have left PENDING since the snapshot); the reasons written."""
    changed = {i: why for i, why in result.held.items() if old_reasons.get(i) != why}
    if changed:
        uow.jobs.set_reasons(list(changed.items()))
    for job_id, why in result.doomed.items():
        job = uow.jobs.get_for_update(job_id)
        if job is not None and job.status is JobStatus.PENDING:
            move(uow, job, JobStatus.CANCELLED, reason=why, at=now, ended_at=now)
    return changed
