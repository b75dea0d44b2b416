"""The scheduler loop: snapshot the pool and queue, run one cycle, persist decisions.

Reading the snapshot and applying decisions are two short transactions, so submissions
are not blocked while the policy thinks. Only one scheduler may run per store (it is the
only writer of new allocations); an admitted job is re-read and skipped if it left
PENDING in the meantime (e.g. cancelled), and a victim is re-read before it is marked.

Slowly changing inputs (quotas and shares, decayed usage, reliability, regions) are
re-read every `slow_refresh_s`, not every cycle.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from suanli.domain.errors import InvalidInput
from suanli.domain.ids import ClusterId, JobId, RegionId, TenantId
from suanli.domain.jobs import Attempt, Job, JobStatus, PriorityClass
from suanli.domain.market import Lane
from suanli.domain.pool import Cluster
from suanli.logic.job_links import Gate
from suanli.logic.reservations import Key, ReservationBook, demand
from suanli.logic.scheduling.apply import carry_out, needs_cycle
from suanli.logic.scheduling.cycle import CycleResult
from suanli.logic.scheduling.decisions import Admit, Preempt
from suanli.logic.scheduling.incremental import CycleMemo, decide
from suanli.logic.scheduling.policy import Policy
from suanli.logic.scheduling.progress import LiveProgress, Service, service_of
from suanli.logic.scheduling.snapshot import (
    ClusterView,
    NodeView,
    PoolInputs,
    RegionView,
    Snapshot,
    build_snapshot,
)
from suanli.ports.clock import Clock
from suanli.ports.store import Store, UnitOfWork
from suanli.services.billing import MoneyPolicy, hold_for_admission
from suanli.services.job_links import carry_out_gate, gate_pending
from suanli.services.lifecycle import move
from suanli.services.loop_stats import SchedulerStats
from suanli.services.pool import cluster_occupancy, latency_matrix, reliability_by_cluster
from suanli.services.preemption import request_preemption

log = logging.getLogger("suanli.scheduler")
MAX_HEADS = 50_000
USAGE_HALF_LIFE_S = 7 * 86_400.0
"""Past usage halves every week (Slurm's PriorityDecayHalfLife default)."""


@dataclass(frozen=True, slots=True)
class CycleReport:
    considered: int
    admitted: int
    waiting: int
    preempted: int = 0


class QueueCache:
    """Decoded pending and holding jobs kept across cycles, so a cycle does not re-read
    and re-decode them all. Every status change appends a job event, so each cycle
    re-reads only the jobs with events newer than the last one seen. Every `resync_s` it
    re-reads everything: on PostgreSQL an event id can become visible after a higher one
    (two transactions committing out of order), and the resync bounds how long such a
    change can go unseen. (SQLite commits one writer at a time, so ids appear in order.)"""

    def __init__(self, clock: Clock, *, resync_s: float = 10.0) -> None:
        self._clock = clock
        self._resync_s = resync_s
        self._jobs: dict[JobId, Job] = {}
        self._holding: dict[JobId, Job] = {}
        self._watermark: int | None = None
        self._synced_at = 0.0
        self._past: dict[JobId, tuple[int, Service]] = {}

    def refresh(self, uow: UnitOfWork) -> tuple[tuple[Job, ...], tuple[Job, ...]]:
        """(pending jobs by seq, jobs holding resources)."""
        now = self._clock.monotonic()
        if self._watermark is None or now - self._synced_at >= self._resync_s:
            self._watermark = uow.jobs.last_event_id()
            self._jobs = {j.id: j for j in uow.jobs.pending(MAX_HEADS)}
            self._holding = {j.id: j for j in uow.jobs.active_on(None)}
            self._synced_at = now
        else:
            changed, self._watermark = uow.jobs.changed_since(self._watermark)
            for job_id in changed:
                self._jobs.pop(job_id, None)
                self._holding.pop(job_id, None)
            for job in uow.jobs.get_many(changed) if changed else []:
                if job.status is JobStatus.PENDING:
                    self._jobs[job.id] = job
                elif job.status.holds_resources():
                    self._holding[job.id] = job
        pending = tuple(sorted(self._jobs.values(), key=lambda j: j.seq))
        return pending, tuple(self._holding.values())

    def past_service(self, uow: UnitOfWork, jobs: Sequence[Job]) -> dict[JobId, Service]:
        """What the earlier attempts of these jobs received (`logic/scheduling/progress`):
        read once per job and attempt number, only for jobs that have earlier attempts
        (a requeued job, a holder past its first attempt), so a queue of new jobs costs
        no query."""
        # a holder's current attempt is counted live; a pending job's are all over
        before = {
            j.id: j.attempt if j.status.holds_resources() else j.attempt + 1
            for j in jobs
            if (j.attempt >= 2 if j.status.holds_resources() else j.attempt >= 1)
        }
        self._past = {i: v for i, v in self._past.items() if i in before}
        missing = [i for i, n in before.items() if self._past.get(i, (None,))[0] != n]
        if missing:
            found = uow.jobs.attempts_of(missing)
            for job_id in missing:
                n = before[job_id]
                self._past[job_id] = (n, service_of(found.get(job_id, ()), before=n))
        return {i: service for i, (_, service) in self._past.items()}

    def reasons(self, job_ids: Sequence[JobId]) -> dict[JobId, str]:
        """The reasons of these pending jobs as last read or written."""
        return {i: self._jobs[i].reason for i in job_ids if i in self._jobs}

    def note_reasons(self, reasons: dict[JobId, str]) -> None:
        """Record reasons the scheduler itself wrote (they create no event)."""
        for job_id, reason in reasons.items():
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = replace(job, reason=reason)

    def note_holding(self, job: Job) -> None:
        """Record a change to a holding job that created no event (preemption marks)."""
        if job.status.holds_resources():
            self._holding[job.id] = job
        else:
            self._holding.pop(job.id, None)


def decayed_units(
    rows: list[tuple[TenantId, str, float]], today: date, half_life_s: float
) -> dict[TenantId, float]:
    """Per tenant: each day's standard units halved per half-life of age (a day's usage
    is taken at its midpoint)."""
    out: dict[TenantId, float] = {}
    for tenant, day, units in rows:
        age_s = ((today - date.fromisoformat(day)).days + 0.5) * 86_400.0
        out[tenant] = out.get(tenant, 0.0) + units * math.pow(0.5, age_s / half_life_s)
    return out


def read_slow_inputs(
    uow: UnitOfWork,
    now: datetime,
    half_life_s: float,
    throughput: Mapping[tuple[str, str], float] | None = None,
) -> PoolInputs:
    """The slowly changing inputs of a cycle, from the store: shares, quotas, usage
    decayed by `half_life_s`, reliability, regions and latency, posted prices; and the
    measured `throughput` profiles the loop was configured with."""
    since = (now - timedelta(seconds=8 * half_life_s)).date().isoformat()
    rows = uow.usage.units_by_tenant_day(since)
    regions = uow.pool.list_regions()
    return PoolInputs(
        shares={s.tenant_id: s for s in uow.tenancy.list_shares()},
        quotas=tuple(uow.tenancy.list_quotas()),
        usage_units=decayed_units(rows, now.date(), half_life_s),
        reliability={c: score for c, (_, score) in reliability_by_cluster(uow, now).items()},
        regions={r.id: RegionView(r.id, r.energy_price, r.carbon_intensity) for r in regions},
        latency=latency_matrix(regions),
        prices=posted_on_demand(uow),
        throughput=dict(throughput or {}),
    )


def posted_on_demand(uow: UnitOfWork) -> dict[ClusterId, float]:
    out: dict[ClusterId, float] = {}
    for posted in uow.market.list_posted_prices():
        if posted.lane is Lane.ON_DEMAND:
            out[posted.cluster_id] = max(out.get(posted.cluster_id, 0.0), float(posted.price))
    return out


def take_snapshot(uow: UnitOfWork, clock: Clock, queue: QueueCache, slow: PoolInputs) -> Snapshot:
    """The live snapshot (`take_gated_snapshot`'s)."""
    return take_gated_snapshot(uow, clock, queue, slow)[0]


def take_gated_snapshot(
    uow: UnitOfWork, clock: Clock, queue: QueueCache, slow: PoolInputs
) -> tuple[Snapshot, Gate]:
    """The live snapshot: READY clusters with their free capacity, the pending jobs
    their dependencies and array throttles let through (`services/job_links.py`; the
    gate says which are held and why) and the holding ones (from `queue`), the slow
    inputs, each job's progress so far."""
    occupancy = cluster_occupancy(uow)
    clusters = [
        ClusterView(
            u.cluster.id,
            u.cluster.region_id,
            u.cluster.provider_id,
            u.cluster.engine,
            tuple(NodeView(u.cluster.id, n.node.id, n.node.capacity, n.free) for n in u.nodes),
            gpu_hour_price=None
            if u.cluster.gpu_hour_price is None
            else float(u.cluster.gpu_hour_price),  # a placement weight, not money
            capabilities=u.cluster.capabilities,
        )
        for u in occupancy
        if u.cluster.state.schedulable()
    ]
    offline = [u.cluster.id for u in occupancy if not u.cluster.state.schedulable()]
    every, holding = queue.refresh(uow)
    gated = gate_pending(uow, every, holding)
    pending = gated.ready
    now = clock.now()
    jobs = (*pending, *holding)
    past = queue.past_service(uow, jobs)
    snapshot = build_snapshot(
        now,
        clusters,
        pending,
        holding,
        slow,
        progress=LiveProgress(jobs, past, now),
        offline=offline,
    )
    return snapshot, gated


def reservation_book(uow: UnitOfWork, snapshot: Snapshot, now: datetime) -> ReservationBook:
    """The reserved blocks active now, what their holders' jobs use and what is free."""
    trades = [t for t in uow.market.list_trades(active_at=now) if t.lane is Lane.RESERVED]
    if not trades:
        return ReservationBook()
    resold: dict[str, float] = {}
    for offer in uow.market.list_offers():
        if offer.resale_of is not None and offer.sold:
            resold[offer.resale_of] = resold.get(offer.resale_of, 0.0) + float(offer.sold)
    free: dict[Key, float] = {}
    for cluster in snapshot.clusters:
        for node in cluster.nodes:
            for resource, amount in demand(node.free).items():
                key = (cluster.id, resource)
                free[key] = free.get(key, 0.0) + amount
    holding = [
        (job.tenant_id, job.cluster_id, p.allocation)
        for job in snapshot.running
        if job.cluster_id is not None
        for p in job.placed()
    ]
    return ReservationBook.build(trades, resold, holding, free, now)


class SchedulerLoop:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        policy: Policy,
        *,
        throughput: Mapping[tuple[str, str], float] | None = None,
        slow_refresh_s: float = 30.0,
        usage_half_life_s: float = USAGE_HALF_LIFE_S,
        money: MoneyPolicy | None = None,
    ) -> None:
        self._store = store
        self._money = money or MoneyPolicy()
        self.stats = SchedulerStats()
        self._clock = clock
        if policy.round_s is not None:
            # Rounds suspend every job that loses its lease and admit others onto its
            # GPUs at once; on real engines a stop takes a grace period and a restore,
            # so the live loop runs time-sharing policies event-driven instead.
            raise InvalidInput(
                f"Policy {policy.name!r} decides in rounds of {policy.round_s:g} s, which "
                "only the simulator runs.",
                field="policy",
                hint="build it with get_policy(name, rounds=False) (what `suanli up "
                "--policy` does), or simulate its rounds with `suanli sim`.",
            )
        self.policy = policy
        self._queue = QueueCache(clock)
        self._memo: CycleMemo | None = None
        self._throughput = dict(throughput or {})
        self._slow: PoolInputs | None = None
        self._slow_at = 0.0
        self._slow_refresh_s = slow_refresh_s
        self._half_life_s = usage_half_life_s

    def refresh_settings(self) -> None:
        """Re-read quotas, shares, usage, reliability and regions at the next cycle."""
        self._slow = None

    def _slow_inputs(self, uow: UnitOfWork) -> PoolInputs:
        now = self._clock.monotonic()
        if self._slow is None or now - self._slow_at >= self._slow_refresh_s:
            self._slow = read_slow_inputs(
                uow, self._clock.now(), self._half_life_s, self._throughput
            )
            self._slow_at = now
        return self._slow

    def run_once(self) -> CycleReport:
        with self._store.unit_of_work(readonly=True) as uow:
            slow = self._slow_inputs(uow)
            snapshot, gated = take_gated_snapshot(uow, self._clock, self._queue, slow)
        if gated.held or gated.doomed:
            self._carry_out_gate(gated)
        if not needs_cycle(snapshot.queue, snapshot.running, self.policy, rounds=False):
            return CycleReport(0, 0, 0)
        began = self._clock.monotonic()
        result, memo, _ = decide(snapshot, self.policy, self._memo)
        admitted, marked, reasons = self._apply(snapshot, result)
        self.stats.cycles.observe(self._clock.monotonic() - began)
        self.stats.placements += admitted
        self.stats.preemptions += len(marked)
        self._memo = memo  # only once the decisions it describes are durable
        self._queue.note_reasons(reasons)
        for job in marked:
            self._queue.note_holding(job)
        if admitted or marked:
            log.info(
                "cycle: %d admitted, %d preempted, %d waiting",
                admitted,
                len(marked),
                len(result.waiting),
            )
        return CycleReport(len(snapshot.queue), admitted, len(result.waiting), len(marked))

    def _carry_out_gate(self, gated: Gate) -> None:
        """Reasons for the jobs held by dependencies or throttles; cancel those whose
        dependency can never be met."""
        old = self._queue.reasons(list(gated.held))
        with self._store.unit_of_work() as uow:
            changed = carry_out_gate(uow, gated, old, self._clock.now())
            uow.commit()
        self._queue.note_reasons(changed)

    def _apply(
        self, snapshot: Snapshot, result: CycleResult
    ) -> tuple[int, list[Job], dict[JobId, str]]:
        """Carry out the decisions (`logic/scheduling/apply.py`) in one transaction;
        returns how many started, the jobs asked to stop, and the reasons that changed."""
        old_reason = {j.id: j.reason for j in snapshot.queue}
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            port = _StorePort(uow, snapshot, now, self._money)
            carried = carry_out(result, snapshot, port)
            reasons = {
                job_id: why
                for job_id, why in carried.reasons.items()
                if old_reason.get(job_id) != why
            }
            uow.jobs.set_reasons(list(reasons.items()))
            uow.commit()
        return len(carried.started), port.marked, reasons


class _StorePort:
    """The store as the place where a cycle's decisions take effect: an admission becomes
    a SCHEDULED attempt (after the reserved-capacity and funds checks), a preemption a
    request the cluster's agent carries out."""

    def __init__(self, uow: UnitOfWork, snapshot: Snapshot, now: datetime, money: MoneyPolicy):
        self._uow = uow
        self._now = now
        self._money = money
        self._regions = {c.id: c.region_id for c in snapshot.clusters}
        # The snapshot was read in another transaction: a cluster may have become
        # unreachable (or been drained) since; never place work on it.
        self._clusters = {c.id: c for c in uow.pool.list_clusters() if c.state.schedulable()}
        self._book = reservation_book(uow, snapshot, now)
        self.marked: list[Job] = []
        """Holders asked to stop, as they are now."""

    def start(self, decision: Admit) -> bool | str:
        if decision.cluster_id not in self._clusters:
            return False
        return self._admit(
            self._uow,
            decision,
            self._regions,
            self._now,
            self._book,
            self._clusters,
            self._money,
        )

    def stop(self, preemption: Preempt, victim: JobId) -> bool:
        job = self._uow.jobs.get_for_update(victim)
        if job is None:
            return False
        resize = preemption.job_id == victim  # an elastic job resized
        after = request_preemption(
            self._uow,
            job,
            reason=preemption.reason
            if resize
            else f"for job {preemption.job_id} on {preemption.cluster_id}",
            at=self._now,
        )
        self.marked.append(after)
        return True

    def suspend(self, job: Job) -> None:
        raise AssertionError("the live loop runs no rounds (SchedulerLoop refuses them)")

    @staticmethod
    def _admit(
        uow: UnitOfWork,
        decision: Admit,
        regions: Mapping[ClusterId, RegionId],
        now: datetime,
        book: ReservationBook,
        clusters: Mapping[ClusterId, Cluster],
        money: MoneyPolicy,
    ) -> bool | str:
        """True when admitted; a reason when it must wait (reserved capacity, funds);
        False when the job is no longer pending."""
        job = uow.jobs.get_for_update(decision.job_id)
        if job is None or job.status is not JobStatus.PENDING:
            return False
        number = job.attempt + 1
        preemptible = job.spec.priority_class is PriorityClass.PREEMPTIBLE
        blocked, block = book.check(
            job.tenant_id, decision.cluster_id, decision.allocation, preemptible
        )
        if blocked:
            return blocked
        cluster = clusters[decision.cluster_id]
        unfunded = hold_for_admission(
            uow, job, number, cluster, decision.allocation, now, money, block
        )
        if unfunded:
            return unfunded
        book.admit(job.tenant_id, decision.cluster_id, decision.allocation)
        # a gang keeps its placements (with members per node) even on one node
        members = sum(p.members for p in decision.placements)
        gang = decision.placements if job.spec.gang_size > 1 or members > 1 else ()
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
                placements=gang,
            )
        )
        where = (
            f"{decision.cluster_id}/{decision.node_id}"
            if len(decision.placements) == 1
            else f"{decision.cluster_id} ({len(decision.placements)} nodes)"
        )
        borrowed = " using capacity borrowed from its cohort" if decision.borrowing else ""
        move(
            uow,
            job,
            JobStatus.SCHEDULED,
            at=now,
            reason=f"Placed on {where}{borrowed}; waiting for its agent.",
            attempt=number,
            cluster_id=decision.cluster_id,
            node_id=decision.node_id,
            allocation=decision.allocation,
            placements=gang,
        )
        return True
