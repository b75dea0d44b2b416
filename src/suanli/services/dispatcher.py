"""The dispatcher loop: keeps the hand-over between scheduler and agents honest.

Agents pull their assignments (`AgentService.claim`); this loop watches the other side:
a cluster whose agent misses the heartbeat deadline becomes UNREACHABLE, attempts it had
not yet claimed go back to the queue untouched, and attempts it had claimed are LOST and
requeued (or failed when out of attempts). Deadlines count from this loop's start as
well, so a restarted platform first gives agents a full deadline to reconnect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from suanli.domain.jobs import JobStatus
from suanli.domain.pool import ClusterState
from suanli.ports.clock import Clock
from suanli.ports.signals import Wakeup
from suanli.ports.store import Store
from suanli.services.lifecycle import lose, move

log = logging.getLogger("suanli.dispatcher")


@dataclass(frozen=True, slots=True)
class ReapReport:
    unreachable: int
    returned: int
    lost: int


class DispatcherLoop:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        scheduler_wakeup: Wakeup,
        *,
        heartbeat_deadline_s: float = 15.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._wakeup = scheduler_wakeup
        self.deadline_s = heartbeat_deadline_s
        self._started = clock.now()

    def run_once(self) -> ReapReport:
        now = self._clock.now()
        unreachable = returned = lost = 0
        with self._store.unit_of_work() as uow:
            for cluster in uow.pool.list_clusters():
                if cluster.state is not ClusterState.READY:
                    continue
                seen = max(cluster.last_heartbeat_at or cluster.registered_at, self._started)
                if (now - seen).total_seconds() <= self.deadline_s:
                    continue
                unreachable += 1
                why = f"cluster {cluster.id} missed its heartbeat deadline ({self.deadline_s:g} s)"
                uow.pool.set_cluster_state(cluster.id, ClusterState.UNREACHABLE, heartbeat_at=None)
                for job in uow.jobs.active_on(cluster.id):
                    attempt = uow.jobs.get_attempt(job.id, job.attempt)
                    if attempt is None:
                        continue
                    if attempt.dispatched_at is None:
                        uow.jobs.save_attempt(
                            replace(
                                attempt,
                                status=JobStatus.LOST,
                                ended_at=now,
                                reason=f"withdrawn before dispatch: {why}",
                            )
                        )
                        move(
                            uow,
                            job,
                            JobStatus.PENDING,
                            at=now,
                            reason=f"Returned to the queue: {why} before it was dispatched.",
                            cluster_id=None,
                            node_id=None,
                            allocation=None,
                        )
                        returned += 1
                    else:
                        lose(
                            uow,
                            job,
                            attempt,
                            at=now,
                            why=f"attempt {attempt.number} LOST: {why}",
                            last_seen=cluster.last_heartbeat_at,
                        )
                        lost += 1
                log.warning("%s: %d returned, %d lost", why, returned, lost)
            uow.commit()
        if unreachable:
            self._wakeup.notify()
        return ReapReport(unreachable, returned, lost)
