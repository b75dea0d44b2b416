"""Preemption: the scheduler asks for a placed job to be stopped and requeued.

`request_preemption` runs inside the caller's unit of work (the scheduler's):

- an attempt its agent has not claimed yet (SCHEDULED, `dispatched_at` None) is simply
  withdrawn: the job goes back to PENDING with its place in the queue, as when its
  cluster becomes unreachable (`lifecycle.withdraw`);
- a claimed attempt (SCHEDULED or RUNNING) is marked: the job gets `preempt_requested`,
  the reason is kept on the attempt, and the agent finds the attempt in the `preempt` list
  of its claim and heartbeat answers. It stops it like a cancel (SIGTERM, then SIGKILL
  after its preemption grace; jobs learn the grace from SUANLI_PREEMPTION_GRACE_S and
  checkpoint on SIGTERM). When the attempt ends, however it exited, the job goes RUNNING
  -> PREEMPTED -> PENDING with its place, and the attempt does not count against
  `max_attempts` (`lifecycle.end_preempted`). A cancel requested meanwhile wins.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from suanli.domain.jobs import Job, JobStatus
from suanli.ports.store import UnitOfWork
from suanli.services.lifecycle import PREEMPTED_PREFIX, withdraw


def request_preemption(uow: UnitOfWork, job: Job, *, reason: str, at: datetime) -> Job:
    """Ask for `job`'s current attempt to be stopped and the job requeued; returns the job
    as saved. `reason` says why and for whom (e.g. "for job j-42, guaranteed"); it shows
    in the job's reason and history. The job is re-read and locked here, so a job from a
    snapshot may be passed. A job that no longer holds resources (it ended, or went back
    to the queue), or whose preemption is already requested, is returned unchanged. The
    caller commits."""
    current = uow.jobs.get_for_update(job.id) or job
    if not current.status.holds_resources() or current.preempt_requested:
        return current
    attempt = uow.jobs.get_attempt(current.id, current.attempt) if current.attempt else None
    if attempt is None or not attempt.status.holds_resources():
        return current
    if attempt.dispatched_at is None and attempt.status is JobStatus.SCHEDULED:
        return withdraw(uow, current, attempt, why=f"preempted ({reason})", at=at)
    uow.jobs.save_attempt(replace(attempt, reason=f"{PREEMPTED_PREFIX}{reason}"))
    marked = replace(
        current,
        preempt_requested=True,
        reason=f"Preemption requested ({reason}); waiting for its agent to stop it.",
        updated_at=at,
    )
    uow.jobs.save(marked)
    return marked
