"""The working state of one cycle: capacity, quotas, fair shares, holders, reservation.

Built from the snapshot at step 2 and changed only by `admit` (step 5), so every policy
sees the effect of the admissions before it and no admission can exceed capacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from suanli.domain.devices import ANY_GPU
from suanli.domain.ids import ClusterId, JobId
from suanli.domain.jobs import Job
from suanli.domain.quota import flavors_of, member_flavors
from suanli.logic.scheduling.backfill import Release, Reservation
from suanli.logic.scheduling.capacity import Capacity, NodeKey
from suanli.logic.scheduling.decisions import Admit
from suanli.logic.scheduling.fairshare import CLASS_RANK, FairShare, FairShareSettings
from suanli.logic.scheduling.placement import PlacementMemo, PlacementWeights, Placer
from suanli.logic.scheduling.preemption import uses_model, victim_pool
from suanli.logic.scheduling.quota import QuotaTally, quota_usage
from suanli.logic.scheduling.snapshot import Snapshot, expected_end


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    """What the operator tunes per pool (suanli.toml / PlatformConfig)."""

    fair: FairShareSettings = field(default_factory=FairShareSettings)
    weights: PlacementWeights = field(default_factory=PlacementWeights)
    backfill: bool = True
    preemption: bool = True
    preemption_grace_s: float = 30.0
    resize_cooldown_s: float = 1800.0
    """Least time between two resizes of one elastic job (no thrashing: each resize is a
    checkpoint and a restart)."""
    spread: bool = False
    """Place one-node jobs worst-fit (spread load) instead of best-fit (pack)."""
    max_preemptions_per_cycle: int = 64
    """Bounds a cycle's work when a full pool meets many higher-priority jobs; the rest
    are considered in the next cycle."""
    seed: int = 0
    """Seeds the policies that draw at random (Gavel's FIFO and its worker-type shuffle),
    so that a run is reproducible."""


class CycleState:
    def __init__(
        self,
        snapshot: Snapshot,
        settings: SchedulerSettings,
        memo: PlacementMemo | None = None,
    ) -> None:
        self.now = snapshot.now
        self.settings = settings
        self.capacity = Capacity(snapshot.clusters)
        limited = {q.tenant_id for q in snapshot.quotas}
        self.holding: dict[ClusterId, dict[JobId, Job]] = {}
        self._grace = timedelta(seconds=settings.preemption_grace_s)
        self._releases: dict[ClusterId, list[Release]] = {}
        self._admitted: dict[ClusterId, list[tuple[Job, Admit]]] = {}
        for job in snapshot.running:
            if job.cluster_id is not None and job.cluster_id in self.capacity.clusters:
                self.holding.setdefault(job.cluster_id, {})[job.id] = job
        self.quota = QuotaTally(snapshot.quotas, snapshot.shares, quota_usage(snapshot))
        in_cohorts = {t for t, sh in snapshot.shares.items() if sh.cohort and t in limited}
        if in_cohorts:
            self.quota.mark_reclaims(
                (job.tenant_id, member_flavors(job.spec.resources, job.spec.gang_size))
                for job in snapshot.queue
                if job.tenant_id in in_cohorts and ANY_GPU not in job.spec.resources.gpus
            )
        self.fair = FairShare(snapshot, settings.fair)
        self.placer = Placer(snapshot, self.capacity, settings.weights, memo)
        self.reservation: Reservation | None = None
        self._until_start_s = 0.0
        self.failed: dict[tuple[object, ...], str] = {}
        """Why a job shape could not be placed, by (filter key, candidates, long): within a
        cycle capacity only shrinks, so the same shape fails again."""
        self.unreservable: set[tuple[object, ...]] = set()
        """Job shapes for which no reservation can be made this cycle."""
        self.held: dict[tuple[object, ...], str | None] = {}
        """Per job shape: whether only the reservation holds it back (and the reason)."""
        self.claimed: set[JobId] = set()
        """Jobs being stopped that a preempting job already waits for."""
        self.no_plan: set[tuple[object, ...]] = set()
        """Job shapes (and classes) for which no preemption plan exists this cycle."""
        self.preemptions = 0
        self._pools: dict[tuple[ClusterId, int, str], list[Job]] = {}
        self._stopping: dict[ClusterId, list[Job]] = {}
        self.position = 0
        """How many jobs the cycle has decided before the current one."""

    def lower_than(self, cluster_id: ClusterId, rank: int, model: str) -> list[Job]:
        """The cluster's holders of a lower priority class than `rank` that free `model`,
        in the order preemption takes them (cached until a preemption there)."""
        key = (cluster_id, rank, model)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = victim_pool(
                self.holding.get(cluster_id, {}).values(),
                lambda j: CLASS_RANK[j.spec.priority_class] > rank and uses_model(j, model),
            )
        return pool

    def stopping(self, cluster_id: ClusterId) -> list[Job]:
        """The cluster's holders already being preempted."""
        found = self._stopping.get(cluster_id)
        if found is None:
            held = self.holding.get(cluster_id, {}).values()
            found = self._stopping[cluster_id] = [j for j in held if j.preempt_requested]
        return found

    def releases(self, cluster_id: ClusterId) -> list[Release]:
        """When the cluster's holders (and this cycle's admissions there) give their
        resources back, at the latest; built per cluster on first use (only a backfill
        reservation needs it)."""
        found = self._releases.get(cluster_id)
        if found is None:
            found = self._releases[cluster_id] = []
            for job in self.holding.get(cluster_id, {}).values():
                end = expected_end(job, self.now)
                if job.preempt_requested:
                    soon = self.now + self._grace
                    end = min(end, soon) if end else soon
                if end is not None:
                    found.extend(
                        Release(end, (cluster_id, p.node_id), p.allocation) for p in job.placed()
                    )
            for job, decision in self._admitted.get(cluster_id, ()):
                self._release_admission(found, job, decision)
        return found

    def _release_admission(self, into: list[Release], job: Job, decision: Admit) -> None:
        if job.spec.time_limit_s is not None:
            end = self.now + timedelta(seconds=job.spec.time_limit_s)
            into.extend(
                Release(end, (decision.cluster_id, p.node_id), p.allocation)
                for p in decision.placements
            )

    def drop_holders(self, cluster_id: ClusterId, gone: set[JobId]) -> None:
        """Victims chosen this cycle are no longer available to others' plans."""
        held = self.holding.get(cluster_id, {})
        for job_id in gone:
            held.pop(job_id, None)
        for key, pool in self._pools.items():
            if key[0] == cluster_id:
                pool[:] = [j for j in pool if j.id not in gone]

    def keys_of(self, cluster_id: ClusterId) -> list[NodeKey]:
        return self.capacity.clusters[cluster_id].keys

    def reserve(self, reservation: Reservation) -> None:
        """Hold the backfill reservation: later jobs that would still run at its start
        are kept to the slack of its nodes."""
        self.reservation = reservation
        self._until_start_s = (reservation.start - self.now).total_seconds()
        self.capacity.set_limits(reservation.limits)

    def is_long(self, job: Job) -> bool:
        """Would the job still run when the reservation starts (if there is one)?"""
        if self.reservation is None:
            return False
        limit = job.spec.time_limit_s
        return limit is None or limit > self._until_start_s

    def admit(self, job: Job, decision: Admit) -> str | None:
        """Step 5: take the admission's capacity, quota and share, and return None. An
        admission that would break the tenant's quota (over its nominal quota outside a
        cohort, past its borrowing limit, or overdrawing its cohort) is refused whatever
        the policy proposed it: its reason is returned and nothing changes. One that
        exceeds a node's free capacity raises DomainError (a policy bug: policies place
        within free capacity)."""
        allocation = decision.allocation
        flavors = flavors_of(allocation)
        check = self.quota.check(job.tenant_id, flavors)
        if not check.ok:
            return check.reason
        self.capacity.take(decision.cluster_id, decision.placements, long=self.is_long(job))
        self.quota.take(job.tenant_id, flavors)
        self.fair.admitted(job.tenant_id, allocation)
        self.placer.admitted(job, decision.cluster_id)
        built = self._releases.get(decision.cluster_id)
        if built is None:
            self._admitted.setdefault(decision.cluster_id, []).append((job, decision))
        else:
            self._release_admission(built, job, decision)
        return None
