"""The scheduler loop: snapshot the pool and queue, run one cycle, persist decisions.

Reading the snapshot and applying decisions are two short transactions, so submissions
are not blocked while the policy thinks. Only one scheduler may run per store (it is the
only writer of new allocations); an admitted job is re-read and skipped if it left
PENDING in the meantime (e.g. cancelled).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from suanli.domain.ids import JobId
from suanli.domain.jobs import Attempt, Job, JobStatus
from suanli.logic.scheduling.incremental import CycleMemo, decide
from suanli.logic.scheduling.policy import Policy
from suanli.logic.scheduling.snapshot import ClusterView, NodeView, Snapshot
from suanli.ports.clock import Clock
from suanli.ports.store import Store, UnitOfWork
from suanli.services.lifecycle import move
from suanli.services.pool import cluster_usage

log = logging.getLogger("suanli.scheduler")
MAX_HEADS = 50_000


@dataclass(frozen=True, slots=True)
class CycleReport:
    considered: int
    admitted: int
    waiting: int


class QueueCache:
    """Decoded pending jobs kept across cycles, so a cycle does not re-read and re-decode
    the whole queue. Every status change appends a job event, so each cycle re-reads only
    the jobs with events newer than the last one seen. Every `resync_s` it re-reads the
    whole queue: on PostgreSQL an event id can become visible after a higher one (two
    transactions committing out of order), and the resync bounds how long such a change
    can go unseen. (SQLite commits one writer at a time, so ids appear in order.)"""

    def __init__(self, clock: Clock, *, resync_s: float = 10.0) -> None:
        self._clock = clock
        self._resync_s = resync_s
        self._jobs: dict[JobId, Job] = {}
        self._watermark: int | None = None
        self._synced_at = 0.0

    def refresh(self, uow: UnitOfWork) -> tuple[Job, ...]:
        now = self._clock.monotonic()
        if self._watermark is None or now - self._synced_at >= self._resync_s:
            self._watermark = uow.jobs.last_event_id()
            self._jobs = {j.id: j for j in uow.jobs.pending(MAX_HEADS)}
            self._synced_at = now
        else:
            changed, self._watermark = uow.jobs.changed_since(self._watermark)
            for job_id in changed:
                self._jobs.pop(job_id, None)
            for job in uow.jobs.get_many(changed) if changed else []:
                if job.status is JobStatus.PENDING:
                    self._jobs[job.id] = job
        return tuple(sorted(self._jobs.values(), key=lambda j: j.seq))

    def note_reasons(self, reasons: dict[JobId, str]) -> None:
        """Record reasons the scheduler itself wrote (they create no event)."""
        for job_id, reason in reasons.items():
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = replace(job, reason=reason)


def take_snapshot(uow: UnitOfWork, clock: Clock, queue: QueueCache) -> Snapshot:
    clusters = tuple(
        ClusterView(
            u.cluster.id,
            u.cluster.region_id,
            u.cluster.provider_id,
            u.cluster.engine,
            tuple(NodeView(u.cluster.id, n.node.id, n.node.capacity, n.free) for n in u.nodes),
        )
        for u in cluster_usage(uow)
        if u.cluster.state.schedulable()
    )
    return Snapshot(clock.now(), clusters, queue.refresh(uow))


class SchedulerLoop:
    def __init__(self, store: Store, clock: Clock, policy: Policy) -> None:
        self._store = store
        self._clock = clock
        self.policy = policy
        self._queue = QueueCache(clock)
        self._memo: CycleMemo | None = None

    def run_once(self) -> CycleReport:
        with self._store.unit_of_work(readonly=True) as uow:
            snapshot = take_snapshot(uow, self._clock, self._queue)
        if not snapshot.queue:
            return CycleReport(0, 0, 0)
        result, memo, _ = decide(snapshot, self.policy, self._memo)
        regions = {c.id: c.region_id for c in snapshot.clusters}
        old_reason = {j.id: j.reason for j in snapshot.queue}
        now = self._clock.now()
        admitted = 0
        with self._store.unit_of_work() as uow:
            # The snapshot was read in another transaction: a cluster may have become
            # unreachable (or been drained) since; never place work on it.
            ready = {c.id for c in uow.pool.list_clusters() if c.state.schedulable()}
            for decision in result.admitted:
                if decision.cluster_id not in ready:
                    continue
                job = uow.jobs.get_for_update(decision.job_id)
                if job is None or job.status is not JobStatus.PENDING:
                    continue
                number = job.attempt + 1
                uow.jobs.add_attempt(
                    Attempt(
                        job.id,
                        number,
                        decision.cluster_id,
                        decision.node_id,
                        decision.allocation,
                        regions[decision.cluster_id],
                        JobStatus.SCHEDULED,
                        now,
                    )
                )
                move(
                    uow,
                    job,
                    JobStatus.SCHEDULED,
                    at=now,
                    reason=f"Placed on {decision.cluster_id}/{decision.node_id}; "
                    "waiting for its agent.",
                    attempt=number,
                    cluster_id=decision.cluster_id,
                    node_id=decision.node_id,
                    allocation=decision.allocation,
                )
                admitted += 1
            reasons = {
                w.job_id: w.reason for w in result.waiting if old_reason[w.job_id] != w.reason
            }
            uow.jobs.set_reasons(list(reasons.items()))
            uow.commit()
        self._memo = memo  # only once the decisions it describes are durable
        self._queue.note_reasons(reasons)
        if admitted:
            log.info("cycle: %d admitted, %d waiting", admitted, len(result.waiting))
        return CycleReport(len(snapshot.queue), admitted, len(result.waiting))
