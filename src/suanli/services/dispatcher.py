"""The dispatcher loop: keeps the hand-over between scheduler and agents honest.

Agents pull their assignments (`AgentService.claim`); this loop watches the other side:
a cluster whose agent misses the heartbeat deadline becomes UNREACHABLE, attempts it had
not yet claimed go back to the queue untouched, and attempts it had claimed are LOST and
requeued (or failed when out of attempts). Deadlines count from this loop's start as
well, so a restarted platform first gives agents a full deadline to reconnect.

It also applies log retention (`services/retention.py`): at most once an hour, the logs
of jobs that ended more than `log_retention_days` ago are deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from suanli.domain.ids import ClusterId
from suanli.domain.jobs import LOG_RETENTION_DAYS, JobStatus
from suanli.domain.pool import ClusterState
from suanli.ports.clock import Clock
from suanli.ports.signals import Wakeup
from suanli.ports.store import Store
from suanli.services.lifecycle import lose, withdraw
from suanli.services.loop_stats import DispatcherStats
from suanli.services.retention import LogRetention

log = logging.getLogger("suanli.dispatcher")


@dataclass(frozen=True, slots=True)
class ReapReport:
    unreachable: int
    returned: int
    lost: int
    logs_purged: int = 0
    """Log chunks deleted by retention in this run (it works once an hour)."""


class DispatcherLoop:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        scheduler_wakeup: Wakeup,
        *,
        heartbeat_deadline_s: float = 15.0,
        log_retention_days: float = LOG_RETENTION_DAYS,
    ) -> None:
        self._store = store
        self._clock = clock
        self._wakeup = scheduler_wakeup
        self.deadline_s = heartbeat_deadline_s
        self._started = clock.now()
        self.retention = LogRetention(store, clock, days=log_retention_days)
        self.stats = DispatcherStats()

    def run_once(self) -> ReapReport:
        """Reap each cluster in its own transaction, so one bad row cannot stop the
        others; also withdraw attempts still waiting on any cluster that is not READY
        (placed just as it became unreachable)."""
        now = self._clock.now()
        unreachable = returned = lost = 0
        with self._store.unit_of_work(readonly=True) as uow:
            clusters = uow.pool.list_clusters()
        for cluster in clusters:
            try:
                r, lo, u = self._reap(cluster.id, now)
            except Exception:
                log.exception("reaping cluster %s failed; retrying next period", cluster.id)
                continue
            returned, lost, unreachable = returned + r, lost + lo, unreachable + u
        self.stats.lost += lost
        self.stats.returned += returned
        self.stats.unreachable += unreachable
        if unreachable or returned:
            self._wakeup.notify()
        try:
            purged = self.retention.maybe_purge()
        except Exception:  # retention must never stop the reaping
            log.exception("log retention failed; retrying next period")
            purged = 0
        return ReapReport(unreachable, returned, lost, purged)

    def _reap(self, cluster_id: ClusterId, now: datetime) -> tuple[int, int, int]:
        returned = lost = unreachable = 0
        with self._store.unit_of_work() as uow:
            cluster = uow.pool.get_cluster(cluster_id)
            if cluster is None:
                return 0, 0, 0
            why = f"cluster {cluster.id} is {cluster.state.value}"
            if cluster.state is ClusterState.READY:
                seen = max(cluster.last_heartbeat_at or cluster.registered_at, self._started)
                if (now - seen).total_seconds() <= self.deadline_s:
                    return 0, 0, 0
                unreachable = 1
                why = f"cluster {cluster.id} missed its heartbeat deadline ({self.deadline_s:g} s)"
                uow.pool.set_cluster_state(cluster.id, ClusterState.UNREACHABLE, heartbeat_at=None)
                # it has been silent since its last heartbeat: the outage began then
                uow.pool.open_outage(cluster.id, seen)
            for candidate in uow.jobs.active_on(cluster.id):
                job = uow.jobs.get_for_update(candidate.id)
                attempt = uow.jobs.get_attempt(candidate.id, candidate.attempt)
                if job is None or attempt is None or not job.status.holds_resources():
                    continue
                if attempt.dispatched_at is None and attempt.status is JobStatus.SCHEDULED:
                    withdraw(uow, job, attempt, why=why, at=now)
                    returned += 1
                elif unreachable:
                    lose(
                        uow,
                        job,
                        attempt,
                        at=now,
                        why=f"attempt {attempt.number} LOST: {why}",
                        last_seen=cluster.last_heartbeat_at,
                    )
                    lost += 1
            if unreachable or returned:
                log.warning("%s: %d returned, %d lost", why, returned, lost)
            uow.commit()
        return returned, lost, unreachable
