"""Job lifecycle steps shared by the services: every status change goes through `move`,
which checks the state machine, saves the job and appends to its history, inside the
caller's transaction. Finishing an attempt meters it exactly once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from suanli.domain.catalog import default_catalog
from suanli.domain.ids import NodeId, ProviderId
from suanli.domain.jobs import Attempt, Job, JobEvent, JobStatus, check_transition
from suanli.logic.metering.attempts import MeteringContext, meter_attempt
from suanli.logic.metering.ratings import node_ratings
from suanli.ports.store import UnitOfWork
from suanli.services.billing import MoneyPolicy, release_hold, settle_attempt

RELEASED: dict[str, object] = {
    "cluster_id": None,
    "node_id": None,
    "allocation": None,
    "placements": (),
    "preempt_requested": False,
}
"""What a job that goes back to the queue no longer holds."""
PREEMPTED_PREFIX = "Preempted: "
"""How `request_preemption` records its reason on the attempt it asks to stop."""


def move(
    uow: UnitOfWork, job: Job, new: JobStatus, *, reason: str, at: datetime, **changes: object
) -> Job:
    """Transition `job` to `new` (raises IllegalTransition), apply `changes`, save, log."""
    moved = replace(job.transition(new, reason=reason, at=at), **changes)  # type: ignore[arg-type]
    uow.jobs.save(moved)
    uow.jobs.add_event(JobEvent(job.id, at, job.status, new, reason, moved.attempt))
    return moved


def end_attempt(
    uow: UnitOfWork,
    job: Job,
    attempt: Attempt,
    status: JobStatus,
    *,
    reason: str,
    started_at: datetime | None,
    ended_at: datetime | None,
    exit_code: int | None,
) -> Attempt:
    """Record the end of an attempt and meter it (once: usage rows are unique per attempt,
    dimension and day), with the ratings of the node it ran on; a gang's attempt is
    metered over all its placements, each with its own node's ratings. An attempt that
    never started is not metered."""
    check_transition(attempt.status, status)
    ended = replace(
        attempt,
        status=status,
        reason=reason,
        exit_code=exit_code,
        started_at=attempt.started_at or started_at,
        ended_at=ended_at if (attempt.started_at or started_at) else None,
    )
    uow.jobs.save_attempt(ended)
    cluster = uow.pool.get_cluster(attempt.cluster_id)
    workload = job.spec.metered_class

    def rate(node_id: NodeId, gpus: Mapping[str, int]) -> dict[str, float | None]:
        node = uow.pool.get_node(attempt.cluster_id, node_id)
        calibration = node.calibration if node else None
        return node_ratings(default_catalog(), calibration, gpus, workload)

    gpus_by_node: dict[NodeId, dict[str, int]] = {}
    for p in attempt.placements:
        gpus_by_node.setdefault(p.node_id, {}).update(p.allocation.gpus)
    ctx = MeteringContext(
        tenant_id=job.tenant_id,
        provider_id=cluster.provider_id if cluster else ProviderId("unknown"),
        sector=job.spec.sector,
        workload=workload,
        ratings=rate(attempt.node_id, attempt.allocation.gpus),
        node_ratings={n: rate(n, gpus) for n, gpus in gpus_by_node.items()},
    )
    records = meter_attempt(ended, ctx)
    uow.usage.add(records)
    # settled from exactly the records just metered, in the same transaction
    settle_attempt(uow, job, ended, records, ended.ended_at or attempt.scheduled_at, MoneyPolicy())
    return ended


def requeue_or_fail(uow: UnitOfWork, job: Job, *, why: str, at: datetime) -> Job:
    """After a LOST or PREEMPTED attempt: back to PENDING (keeping its queue position),
    or FAILED when no attempts are left, or CANCELLED if the user asked to cancel.
    Attempts that reached an agent count against `max_attempts`, except those that ended
    PREEMPTED: a preemption is the platform's doing, not the job's."""
    if job.cancel_requested:
        return move(
            uow,
            job,
            JobStatus.CANCELLED,
            reason=f"Cancelled; {why}",
            at=at,
            ended_at=at,
            preempt_requested=False,
        )
    tried = sum(
        1
        for a in uow.jobs.list_attempts(job.id)
        if a.dispatched_at is not None and a.status is not JobStatus.PREEMPTED
    )
    if tried >= job.spec.max_attempts:
        return move(
            uow,
            job,
            JobStatus.FAILED,
            at=at,
            ended_at=at,
            reason=f"{why}; no attempts left ({tried} of {job.spec.max_attempts}).",
            preempt_requested=False,
        )
    return move(
        uow,
        job,
        JobStatus.PENDING,
        at=at,
        reason=f"Requeued: {why} (attempt {tried} of {job.spec.max_attempts}).",
        **RELEASED,
    )


def lose(
    uow: UnitOfWork,
    job: Job,
    attempt: Attempt,
    *,
    why: str,
    at: datetime,
    last_seen: datetime | None,
) -> Job:
    """Mark an attempt and its job LOST, then requeue or fail the job. The attempt is
    metered up to `last_seen` (the last moment it was known to run), never up to the
    moment the loss was noticed, so an outage is not billed."""
    end_lost_attempt(uow, job, attempt, why=why, at=at, last_seen=last_seen)
    job = move(uow, job, JobStatus.LOST, reason=why, at=at)
    return requeue_or_fail(uow, job, why=why, at=at)


def end_lost_attempt(
    uow: UnitOfWork,
    job: Job,
    attempt: Attempt,
    *,
    why: str,
    at: datetime,
    last_seen: datetime | None,
) -> None:
    """End an attempt LOST, metered up to `last_seen` (clamped to [start, at])."""
    end = min(last_seen or at, at)
    if attempt.started_at is not None:
        end = max(end, attempt.started_at)
    end_attempt(
        uow, job, attempt, JobStatus.LOST, reason=why, started_at=None, ended_at=end, exit_code=None
    )


def withdraw(uow: UnitOfWork, job: Job, attempt: Attempt, *, why: str, at: datetime) -> Job:
    """Take back an attempt its agent never claimed: the job returns to the queue with its
    place, and the attempt does not count against `max_attempts` (it never ran)."""
    uow.jobs.save_attempt(
        replace(
            attempt, status=JobStatus.LOST, ended_at=at, reason=f"withdrawn before dispatch: {why}"
        )
    )
    release_hold(uow, attempt.job_id, attempt.number, at, "withdrawn before dispatch")
    return move(
        uow,
        job,
        JobStatus.PENDING,
        at=at,
        reason=f"Returned to the queue: {why} before it was dispatched.",
        **RELEASED,
    )


def end_preempted(
    uow: UnitOfWork,
    job: Job,
    attempt: Attempt,
    *,
    at: datetime,
    started_at: datetime | None,
    ended_at: datetime | None,
    exit_code: int | None,
    stopped: str,
) -> Job:
    """The attempt of a job whose preemption was requested has ended (however it exited):
    the attempt ends PREEMPTED and is metered as usual, the job goes RUNNING -> PREEMPTED
    -> PENDING with its queue position, and the attempt does not count against
    `max_attempts`. `stopped` says how the engine saw the end. The reason given to
    `request_preemption` was kept on the attempt."""
    why = attempt.reason.removeprefix(PREEMPTED_PREFIX) or "no reason recorded"
    end_attempt(
        uow,
        job,
        attempt,
        JobStatus.PREEMPTED,
        reason=f"{PREEMPTED_PREFIX}{why}; {stopped}",
        started_at=started_at,
        ended_at=ended_at,
        exit_code=exit_code,
    )
    job = move(uow, job, JobStatus.PREEMPTED, reason=f"{PREEMPTED_PREFIX}{why}.", at=at)
    if job.cancel_requested:  # a cancel wins
        return requeue_or_fail(uow, job, why=f"preempted ({why})", at=at)
    return move(
        uow,
        job,
        JobStatus.PENDING,
        at=at,
        reason=f"Requeued with its place in the queue after preemption ({why}); a "
        "preemption does not use up an attempt.",
        **RELEASED,
    )
