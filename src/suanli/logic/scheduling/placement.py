"""Placement: which clusters (and GPU models) may run a job, and which is best.

Filter (static for a cycle): the cluster is in an allowed region and provider and not in
a denied one; it has the requested GPU model (or, for model ``any``, an allowed one); it
is within `max_data_rtt_ms` of the job's data and within the latency SLO of the job's
clients; and, empty, it could hold the whole gang.

Score (each term in 0..1, weighted, higher is better):
- throughput of this job type on this model: the measured matrix when it covers every
  candidate model, else the user's hints when they do, else the metering rating;
- price per unit of work: posted price x devices / throughput, best = 1 (unpriced 0.5);
- latency from the client region: 1 / (1 + RTT / 10 ms);
- the cluster's reliability score;
- energy price and carbon intensity of the region when the operator set them;
- packing (fill busy clusters first) or, with a negative weight, spreading;
- anti-affinity: fewer replicas of the same service already there.
A user's own region list is an ordered preference: every candidate in an earlier region
ranks before any in a later one, so the job falls back region by region, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from suanli.domain.devices import ANY_GPU
from suanli.domain.ids import ClusterId, RegionId, TenantId
from suanli.domain.jobs import Job, JobSpec
from suanli.domain.pool import Capability
from suanli.domain.resources import Resources
from suanli.logic.scheduling.capacity import CPU_ONLY, Capacity
from suanli.logic.scheduling.fairshare import gpu_rating
from suanli.logic.scheduling.snapshot import ClusterView, Snapshot


@dataclass(frozen=True, slots=True)
class PlacementWeights:
    throughput: float = 4.0
    price: float = 2.0
    latency: float = 1.0
    reliability: float = 2.0
    energy: float = 1.0
    carbon: float = 1.0
    packing: float = 0.5
    """Positive: fill busy clusters and nodes first (less fragmentation); negative: spread."""
    anti_affinity: float = 2.0


@dataclass(frozen=True, slots=True)
class Candidate:
    cluster: ClusterView
    model: str
    """The GPU model bound for this candidate, or CPU_ONLY."""
    member: Resources
    """One gang member's request with the model bound."""
    preference: int
    """Position of the cluster's region in the user's region list (0 when none given)."""


def _ratio(best: float, value: float | None) -> float:
    """best / value for lower-is-better terms (1.0 for the best); 0.5 when unknown; a
    value of 0 is the best there is."""
    if value is None:
        return 0.5
    if value <= 0:
        return 1.0
    return best / value


def constraint_violation(spec: JobSpec, region_id: str, provider_id: str) -> str | None:
    """Why the job's region and provider lists exclude a cluster in `region_id` of
    `provider_id`, or None when they allow it. The one statement of these rules: the
    placement filter and the agent's claim (`services/agents.py`) both ask it."""
    p = spec.placement
    if p.regions and region_id not in p.regions:
        return "not in the allowed regions"
    if region_id in p.deny_regions:
        return "in a denied region"
    if (p.providers and provider_id not in p.providers) or provider_id in p.deny_providers:
        return "of a provider not allowed"
    return None


def gpu_choices(spec: JobSpec, models: Iterable[str]) -> list[str]:
    """Of the GPU models a cluster has (`CPU_ONLY` standing for its nodes without GPUs),
    those the job may be bound to: `CPU_ONLY` for a job without GPUs (if the cluster has
    any node), the requested model, or for model ``any`` every model `gpu_models`
    allows."""
    p = spec.placement
    present = list(models)
    wanted = next(iter(spec.resources.gpus), None)
    if wanted is None:
        return [CPU_ONLY] if present else []
    if wanted == ANY_GPU:
        return [m for m in present if m and (not p.gpu_models or m in p.gpu_models)]
    return [wanted] if wanted in present else []


def placement_violation(
    spec: JobSpec, region_id: str, provider_id: str, held: Iterable[Resources]
) -> str | None:
    """Why a placement holding the allocations `held` in a cluster of `region_id` and
    `provider_id` breaks the job's region, provider or GPU model constraints, or None.
    For a placement made elsewhere (the agent's claim re-checks what the scheduler
    placed, in case the cluster changed since)."""
    why = constraint_violation(spec, region_id, provider_id)
    if why is not None:
        return why
    models = sorted({m for allocation in held for m in allocation.gpus}) or [CPU_ONLY]
    for model in models:
        if gpu_choices(spec, [model]) != [model]:
            return f"not the GPU model asked for ({model or 'no GPU'})"
    return None


def bind_model(request: Resources, model: str) -> Resources:
    if not request.gpus:
        return request
    count = next(iter(request.gpus.values()))
    return Resources(request.cpu_milli, request.memory_mb, {model: count}, request.gpu_memory_mb)


def filter_key(job: Job) -> tuple[object, ...]:
    """What the placement filter's result depends on: the request's size and the
    placement constraints (one hashable value)."""
    s = job.spec
    r = s.resources
    return (
        r.cpu_milli,
        r.memory_mb,
        tuple(r.gpus.items()),
        r.gpu_memory_mb,
        s.gang_size,
        s.placement,
    )


class PlacementMemo:
    """Filter results kept across cycles while the clusters, their nodes' capacities and
    the latency matrix stay the same (a live scheduler's policy keeps one; the filter
    depends on nothing else; ranking reads each cluster's current price and reliability
    from the snapshot)."""

    def __init__(self) -> None:
        self._fingerprint: tuple[object, ...] | None = None
        self.filtered: dict[Hashable, tuple[list[Candidate], str]] = {}
        self.eligible: dict[
            tuple[object, ...], tuple[list[tuple[ClusterView, str, int]], dict[str, int]]
        ] = {}

    def renew(self, snapshot: Snapshot) -> None:
        """Forget everything if the snapshot's pool differs from the last one's."""
        fingerprint = (
            snapshot.latency,
            tuple(
                (c.id, c.region_id, c.provider_id, tuple((n.node_id, n.capacity) for n in c.nodes))
                for c in snapshot.clusters
            ),
        )
        if fingerprint != self._fingerprint:
            self._fingerprint = fingerprint
            self.filtered = {}
            self.eligible = {}


class Placer:
    """Filters and scores candidates for one cycle (filter results are cached)."""

    def __init__(
        self,
        snapshot: Snapshot,
        capacity: Capacity,
        weights: PlacementWeights,
        memo: PlacementMemo | None = None,
    ) -> None:
        self._snapshot = snapshot
        self._capacity = capacity
        self.weights = weights
        self._views = {c.id: c for c in snapshot.clusters}
        """Current views: a memoised candidate may hold an older view of its cluster."""
        memo = memo or PlacementMemo()
        memo.renew(snapshot)
        self._filtered = memo.filtered
        self._eligible_cache = memo.eligible
        self._rtt: dict[tuple[str, str], float | None] = {}
        self._speed: dict[tuple[object, ...], dict[str, float]] = {}
        self._statics: dict[tuple[ClusterId, RegionId | None], float] = {}
        self._replicas: dict[tuple[TenantId, str, ClusterId], int] = {}
        for job in snapshot.running:
            if job.spec.service and job.cluster_id:
                key = (job.tenant_id, job.spec.service, job.cluster_id)
                self._replicas[key] = self._replicas.get(key, 0) + 1
        regions = snapshot.regions.values()
        energy = [r.energy_price for r in regions if r.energy_price is not None]
        carbon = [r.carbon_intensity for r in regions if r.carbon_intensity is not None]
        self._min_energy = min(energy) if energy else None
        self._min_carbon = min(carbon) if carbon else None

    def rtt(self, a: str, b: str) -> float | None:
        """RTT from the latency matrix, None when it cannot say (unknown region)."""
        key = (a, b)
        if key not in self._rtt:
            matrix = self._snapshot.latency
            value: float | None = None
            if matrix is not None and a in matrix.regions and b in matrix.regions:
                try:
                    value = matrix.rtt_ms(a, b)
                except Exception:
                    value = None
            elif a == b:
                value = 1.0
            self._rtt[key] = value
        return self._rtt[key]

    def candidates(self, job: Job) -> tuple[list[Candidate], str]:
        """Candidates passing every filter, and (when there are none) why."""
        return self.candidates_for(filter_key(job), job)

    def candidates_for(self, key: Hashable, job: Job) -> tuple[list[Candidate], str]:
        """`candidates` when the caller already has the job's `filter_key` (or a stable
        stand-in for it: one caller uses small ints)."""
        found = self._filtered.get(key)
        if found is None:
            found = self._filter(job)
            self._filtered[key] = found
        return found

    def _eligible(self, job: Job) -> tuple[list[tuple[ClusterView, str, int]], dict[str, int]]:
        """(cluster, model, preference) passing the placement constraints, which do not
        depend on the job's size (cached by them alone: many sizes share constraints);
        and how many clusters each constraint excluded."""
        p = job.spec.placement
        s = job.spec
        wanted = next(iter(s.resources.gpus), None)
        gang = s.gang_size > 1
        key = (wanted, gang, s.placement)
        found = self._eligible_cache.get(key)
        if found is not None:
            return found
        excluded: dict[str, int] = {}

        def out(why: str) -> None:
            excluded[why] = excluded.get(why, 0) + 1

        order = {r: i for i, r in enumerate(p.regions)}
        result: list[tuple[ClusterView, str, int]] = []
        for c in self._snapshot.clusters:
            why = constraint_violation(s, c.region_id, c.provider_id)
            if why is not None:
                out(why)
                continue
            if gang and not c.can(Capability.GANG):
                out(f"run by an engine that cannot start gangs ({c.engine})")
                continue
            if p.data_region is not None and p.max_data_rtt_ms is not None:
                rtt = self.rtt(p.data_region, c.region_id)
                if rtt is None or rtt > p.max_data_rtt_ms:
                    out(f"farther than {p.max_data_rtt_ms:g} ms from the data in {p.data_region}")
                    continue
            if p.client_region is not None and p.latency_slo_ms is not None:
                rtt = self.rtt(p.client_region, c.region_id)
                if rtt is None or rtt > p.latency_slo_ms:
                    out(f"beyond the {p.latency_slo_ms:g} ms SLO from {p.client_region}")
                    continue
            choices = gpu_choices(s, self._capacity.models(c.id))
            if not choices:
                out("without the GPU model asked for")
                continue
            result.extend((c, model, order.get(c.region_id, 0)) for model in choices)
        found = self._eligible_cache[key] = (result, excluded)
        return found

    def _filter(self, job: Job) -> tuple[list[Candidate], str]:
        s = job.spec
        eligible, excluded_by_rule = self._eligible(job)
        excluded = dict(excluded_by_rule)
        result: list[Candidate] = []
        small: set[ClusterId] = set()
        members: dict[str, Resources] = {}
        for c, model, preference in eligible:
            member = members.get(model)
            if member is None:
                member = members[model] = bind_model(s.resources, model)
            if self._capacity.could_ever_hold(c.id, member, s.gang_size):
                result.append(Candidate(c, model, member, preference))
            else:
                small.add(c.id)
        if result:
            return result, ""
        if not self._snapshot.clusters:
            offline = self._snapshot.offline
            which = f" ({len(offline)} offline: {', '.join(offline[:5])})" if offline else ""
            return [], (
                f"No schedulable cluster{which}. It starts when a cluster comes online. "
                "Hint: `suanli pool`."
            )
        if small:
            excluded["too small for it even when empty"] = len(small)
        why = "; ".join(
            f"{n} {'is' if n == 1 else 'are'} {why}" for why, n in sorted(excluded.items())
        )
        offline = self._snapshot.offline
        if offline:
            shown = ", ".join(offline[:5]) + (", ..." if len(offline) > 5 else "")
            return [], (
                f"No ready cluster fits this job now: of {len(self._snapshot.clusters)} "
                f"ready clusters, {why}. {len(offline)} more "
                f"{'is' if len(offline) == 1 else 'are'} offline ({shown}); if one of them "
                "fits it, it starts when that cluster is back. Hint: `suanli pool`."
            )
        return [], (
            f"No cluster can ever fit this job: of {len(self._snapshot.clusters)} clusters, "
            f"{why}. {self._closest_miss(job)}To fix: ask for less or loosen the placement "
            "constraints. Hint: `suanli pool`."
        )

    def _closest_miss(self, job: Job) -> str:
        request = job.spec.resources
        best: tuple[int, str] | None = None
        # nodes of one capacity miss alike: look at one of each
        for (cid, node_id), capacity in self._capacity.distinct_nodes():
            missing = request.shortfall(capacity)
            if not missing:
                continue
            if best is None or len(missing) < best[0]:
                best = (len(missing), f"{cid}/{node_id}, which lacks {'; '.join(missing)}")
        return f"Closest node: {best[1]}. " if best else ""

    def throughput(self, job: Job, candidates: Iterable[Candidate]) -> dict[str, float]:
        """Relative speed per candidate model, best = 1.0 (see module doc for sources)."""
        models = tuple(sorted({c.model for c in candidates}))
        key = (job.spec.job_type, tuple(sorted(job.spec.throughput_hints.items())), models)
        found = self._speed.get(key)
        if found is None:
            found = self._speed[key] = self._throughput(job, models)
        return found

    def _throughput(self, job: Job, models: tuple[str, ...]) -> dict[str, float]:
        if models == (CPU_ONLY,):
            return {CPU_ONLY: 1.0}
        sources: list[Callable[[str], float | None]] = [
            lambda m: (
                self._snapshot.throughput.get((job.spec.job_type, m)) if job.spec.job_type else None
            ),
            lambda m: job.spec.throughput_hints.get(m),
            gpu_rating,
        ]
        for source in sources:
            values = {m: source(m) for m in models}
            if all(v for v in values.values()):
                top = max(v for v in values.values() if v)
                return {m: (v or 0.0) / top for m, v in values.items()}
        return dict.fromkeys(models, 1.0)

    def rank(self, job: Job, candidates: list[Candidate]) -> list[Candidate]:
        """Candidates best first: the user's region order, then the weighted score."""
        if len(candidates) == 1:
            return candidates
        w = self.weights
        speed = self.throughput(job, candidates)
        s = job.spec
        costs: dict[int, float] = {}
        views = self._views
        for i, cand in enumerate(candidates):
            price = views[cand.cluster.id].gpu_hour_price
            if price is not None:
                units = cand.member.gpus.get(cand.model, 0) or cand.member.cpus
                costs[i] = price * units / max(speed[cand.model], 1e-9)
        cheapest = min(costs.values()) if costs else None
        scored: list[tuple[int, float, int, Candidate]] = []
        for i, cand in enumerate(candidates):
            c = views[cand.cluster.id]
            score = w.throughput * speed[cand.model] + self._static(c, s.placement.client_region)
            if cheapest is not None:
                score += w.price * _ratio(cheapest, costs.get(i))
            total = self._capacity.total_devices(c.id, cand.model)
            if total:
                used = 1.0 - self._capacity.free_devices(c.id, cand.model) / total
                score += w.packing * used
            if s.service:
                n = self._replicas.get((job.tenant_id, s.service, c.id), 0)
                score -= w.anti_affinity * n / (n + 1)
            scored.append((cand.preference, -score, i, cand))
        scored.sort(key=lambda t: (t[0], t[1], t[2]))
        return [t[3] for t in scored]

    def _static(self, c: ClusterView, client_region: RegionId | None) -> float:
        """The score terms that depend only on the cluster and the client region."""
        key = (c.id, client_region)
        found = self._statics.get(key)
        if found is None:
            w = self.weights
            score = w.reliability * c.reliability
            if client_region is not None:
                rtt = self.rtt(client_region, c.region_id)
                score += w.latency * (1.0 / (1.0 + rtt / 10.0) if rtt is not None else 0.0)
            region = self._snapshot.regions.get(c.region_id)
            if self._min_energy is not None:
                score += w.energy * _ratio(
                    self._min_energy, region.energy_price if region else None
                )
            if self._min_carbon is not None:
                carbon = region.carbon_intensity if region else None
                score += w.carbon * _ratio(self._min_carbon, carbon)
            found = self._statics[key] = score
        return found

    def admitted(self, job: Job, cluster_id: ClusterId) -> None:
        if job.spec.service:
            key = (job.tenant_id, job.spec.service, cluster_id)
            self._replicas[key] = self._replicas.get(key, 0) + 1
