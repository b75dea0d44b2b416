"""The scheduler loop: snapshot the pool and queue, run one cycle, persist decisions.

Reading the snapshot and applying decisions are two short transactions, so submissions
are not blocked while the policy thinks. Only one scheduler may run per store (it is the
only writer of new allocations); an admitted job is re-read and skipped if it left
PENDING in the meantime (e.g. cancelled).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from suanli.domain.jobs import Attempt, JobStatus
from suanli.domain.pool import ClusterState
from suanli.logic.scheduling.cycle import run_cycle
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


def take_snapshot(uow: UnitOfWork, clock: Clock) -> Snapshot:
    clusters = tuple(
        ClusterView(
            u.cluster.id,
            u.cluster.region_id,
            u.cluster.provider_id,
            u.cluster.engine,
            tuple(NodeView(u.cluster.id, n.node.id, n.node.capacity, n.free) for n in u.nodes),
        )
        for u in cluster_usage(uow)
        if u.cluster.state is ClusterState.READY
    )
    return Snapshot(clock.now(), clusters, tuple(uow.jobs.pending(MAX_HEADS)))


class SchedulerLoop:
    def __init__(self, store: Store, clock: Clock, policy: Policy) -> None:
        self._store = store
        self._clock = clock
        self.policy = policy

    def run_once(self) -> CycleReport:
        with self._store.unit_of_work(readonly=True) as uow:
            snapshot = take_snapshot(uow, self._clock)
        if not snapshot.queue:
            return CycleReport(0, 0, 0)
        result = run_cycle(snapshot, self.policy)
        regions = {c.id: c.region_id for c in snapshot.clusters}
        old_reason = {j.id: j.reason for j in snapshot.queue}
        now = self._clock.now()
        admitted = 0
        with self._store.unit_of_work() as uow:
            for decision in result.admitted:
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
            uow.jobs.set_reasons(
                [(w.job_id, w.reason) for w in result.waiting if old_reason[w.job_id] != w.reason]
            )
            uow.commit()
        if admitted:
            log.info("cycle: %d admitted, %d waiting", admitted, len(result.waiting))
        return CycleReport(len(snapshot.queue), admitted, len(result.waiting))
