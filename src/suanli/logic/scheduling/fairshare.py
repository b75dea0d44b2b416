"""Ordering: priority class first, then weighted fair share across tenants, then age.

A tenant's *share value* (lower is served first) blends
- its dominant share now (DRF): the largest, over CPU, memory and GPU compute, of what it
  holds divided by the pool's capacity. GPU compute is counted in standard units per hour
  (devices x their rating), so an H100 weighs more than a T4;
- its past usage in standard units, decayed by a half-life (as Slurm's fair-share
  usage), as a fraction of all tenants' decayed usage;
each divided by the tenant's normalised weight. Within a priority class the tenant with
the lowest value goes next, with its job of highest response ratio ((waiting + estimated
run time) / estimated run time: short jobs first, and waiting raises a long job's ratio
until it goes; equal ratios, oldest first); every admission raises the tenant's value at
once (progressive filling), so one cycle interleaves tenants fairly. Age breaks ties
between tenants and, over days, lifts old jobs: `age_weight` per `age_horizon_s`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from suanli.domain.ids import TenantId
from suanli.domain.jobs import Job, PriorityClass
from suanli.domain.resources import Resources
from suanli.logic.metering.ratings import reference_rating_pflops
from suanli.logic.scheduling.snapshot import Snapshot

CLASS_RANK = {PriorityClass.GUARANTEED: 0, PriorityClass.STANDARD: 1, PriorityClass.PREEMPTIBLE: 2}


UNRATED_WEIGHT_PFLOPS = 0.1
"""What a device the catalog cannot rate weighs in fair shares and placement: something,
so that holding it counts (metering, in contrast, records it as unrated, never guessed)."""


def gpu_rating(model: str) -> float:
    """PFLOPS of one device for AI work (`reference_rating_pflops`), or
    `UNRATED_WEIGHT_PFLOPS` for a model the catalog cannot rate."""
    return reference_rating_pflops(model) or UNRATED_WEIGHT_PFLOPS


@dataclass(frozen=True, slots=True)
class FairShareSettings:
    usage_weight: float = 0.5
    """Blend of past usage (1.0) versus current dominant share (0.0)."""
    age_weight: float = 0.25
    age_horizon_s: float = 7 * 86_400


class FairShare:
    """Dominant shares and share values of tenants, updated as a cycle admits."""

    def __init__(self, snapshot: Snapshot, settings: FairShareSettings) -> None:
        self.settings = settings
        self._ratings: dict[str, float] = {}
        cpu = mem = gpu = 0.0
        for c in snapshot.clusters:
            for n in c.nodes:
                cpu += n.capacity.cpu_milli
                mem += n.capacity.memory_mb
                gpu += self.gpu_units(n.capacity)
        self._capacity = (cpu or 1.0, mem or 1.0, gpu or 1.0)
        self._held: dict[TenantId, list[float]] = {}
        self._values: dict[TenantId, float] = {}
        self._age_rate = settings.age_weight / settings.age_horizon_s
        for job in snapshot.running:
            for p in job.placed():
                self._add(job.tenant_id, p.allocation)
        tenants = {j.tenant_id for j in snapshot.queue} | set(self._held)
        tenants |= set(snapshot.shares)
        weights = {t: snapshot.shares[t].weight if t in snapshot.shares else 1.0 for t in tenants}
        total_w = sum(weights.values()) or 1.0
        self._norm_weight = {t: w / total_w for t, w in weights.items()}
        total_usage = sum(snapshot.usage_units.values())
        self._past = {
            t: (u / total_usage if total_usage > 0 else 0.0)
            for t, u in snapshot.usage_units.items()
        }

    def gpu_units(self, r: Resources) -> float:
        total = 0.0
        for model, count in r.gpus.items():
            if model not in self._ratings:
                self._ratings[model] = gpu_rating(model)
            total += count * self._ratings[model]
        return total

    def _add(self, tenant: TenantId, allocation: Resources) -> None:
        held = self._held.setdefault(tenant, [0.0, 0.0, 0.0])
        held[0] += allocation.cpu_milli
        held[1] += allocation.memory_mb
        held[2] += self.gpu_units(allocation)

    def admitted(self, tenant: TenantId, allocation: Resources) -> None:
        self._add(tenant, allocation)
        self._values.pop(tenant, None)

    def dominant(self, tenant: TenantId) -> float:
        held = self._held.get(tenant)
        if held is None:
            return 0.0
        return max(h / c for h, c in zip(held, self._capacity, strict=True))

    def value(self, tenant: TenantId) -> float:
        cached = self._values.get(tenant)
        if cached is None:
            cached = self._values[tenant] = self._value(tenant)
        return cached

    def _value(self, tenant: TenantId) -> float:
        s = self.settings
        blend = (1 - s.usage_weight) * self.dominant(tenant) + s.usage_weight * self._past.get(
            tenant, 0.0
        )
        return blend / self._norm_weight.get(tenant, 1.0)

    def age_bonus(self, job: Job, now: datetime) -> float:
        waited = (now - job.submitted_at).total_seconds()
        if waited <= 0:
            return 0.0
        cap = self.settings.age_weight
        return min(waited * self._age_rate, cap)


DEFAULT_ESTIMATE_S = 3600.0
"""Run time assumed for a job with no estimate (no time limit, no known progress)."""


def response_ratio(job: Job, snapshot: Snapshot, now: datetime) -> float:
    """(waiting + estimated run time) / estimated run time: Brinch Hansen's highest
    response ratio next. Short jobs go first, and a long job's ratio grows as it waits,
    so nothing starves. The estimate is the remaining run time where progress is known
    (the simulator's oracle), else the job's time limit (the user's estimate, as Slurm's
    backfill uses it), else DEFAULT_ESTIMATE_S."""
    progress = snapshot.progress.get(job.id)
    estimate = progress.remaining_s() if progress is not None else None
    if estimate is None:
        estimate = float(job.spec.time_limit_s or DEFAULT_ESTIMATE_S)
    waited = max(0.0, (now - job.submitted_at).total_seconds())
    return (waited + estimate) / max(estimate, 1.0)


class FairQueue:
    """The queue in admission order, re-ranked as the cycle admits (see module doc).
    Iterate it; the cycle's admissions reach it through the shared FairShare."""

    def __init__(self, snapshot: Snapshot, fair: FairShare) -> None:
        self._fair = fair
        now = snapshot.now
        # per (class, tenant): that tenant's jobs of that class with their age bonus,
        # oldest first (reversed so pop() takes the oldest)
        lanes: dict[tuple[int, TenantId], list[tuple[Job, float]]] = {}
        ratios: dict[tuple[int, TenantId], list[float]] = {}
        for job in sorted(snapshot.queue, key=lambda j: j.seq, reverse=True):
            key = (CLASS_RANK[job.spec.priority_class], job.tenant_id)
            lanes.setdefault(key, []).append((job, fair.age_bonus(job, now)))
            ratios.setdefault(key, []).append(response_ratio(job, snapshot, now))
        for key, lane in lanes.items():
            # highest response ratio last (pop() takes it); the sort is stable, so equal
            # ratios keep the oldest job last
            r = ratios[key]
            order = sorted(range(len(lane)), key=r.__getitem__)
            lanes[key] = [lane[i] for i in order]
        self._lanes = lanes
        self._heap: list[tuple[int, float, int, TenantId]] = []
        for key in lanes:
            self._push(key)

    def _push(self, key: tuple[int, TenantId]) -> None:
        lane = self._lanes[key]
        if not lane:
            return
        head, bonus = lane[-1]
        rank = self._fair.value(key[1]) - bonus
        heapq.heappush(self._heap, (key[0], rank, head.seq, key[1]))

    def __iter__(self) -> Iterator[Job]:
        while self._heap:
            cls, rank, seq, tenant = heapq.heappop(self._heap)
            key = (cls, tenant)
            lane = self._lanes[key]
            # ranks are computed on entry; a tenant admitted in a higher class since
            # then ranks worse now: re-enter it if it no longer comes first
            current = self._fair.value(tenant) - lane[-1][1]
            if current > rank and self._heap and (cls, current, seq) > self._heap[0][:3]:
                heapq.heappush(self._heap, (cls, current, seq, tenant))
                continue
            job, _ = lane.pop()
            yield job
            # the tenant's rank may have changed (admitted); re-enter with its next job
            self._push(key)
