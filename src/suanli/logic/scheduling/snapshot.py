"""The immutable view of pool and queue that one scheduling cycle decides over."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from suanli.domain.geo import LatencyMatrix
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId
from suanli.domain.jobs import Job
from suanli.domain.pool import Capability
from suanli.domain.quota import Quota, TenantShare
from suanli.domain.resources import Resources

_EMPTY: Mapping[str, float] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class NodeView:
    cluster_id: ClusterId
    node_id: NodeId
    capacity: Resources
    free: Resources


@dataclass(frozen=True, slots=True)
class ClusterView:
    id: ClusterId
    region_id: RegionId
    provider_id: ProviderId
    engine: str
    nodes: tuple[NodeView, ...]
    gpu_hour_price: float | None = None
    """Posted price per GPU-hour (CPU core-hour for CPU-only clusters); None: unpriced."""
    reliability: float = 1.0
    """0..1, from observed outcomes (logic/reliability.py); 1.0 when nothing is known."""
    capabilities: frozenset[Capability] | None = None
    """What its engine can do (a gang goes only where GANG is); None: not reported, so
    nothing is assumed missing."""

    def can(self, capability: Capability) -> bool:
        return self.capabilities is None or capability in self.capabilities


@dataclass(frozen=True, slots=True)
class RegionView:
    id: RegionId
    energy_price: float | None = None
    carbon_intensity: float | None = None


def rate_at(points: Mapping[int, float], gpus: int) -> float:
    """A job's rate on `gpus` GPUs from rates measured at some GPU counts (non-empty):
    the measured point, else linear between the nearest measured counts, proportional
    below the smallest and flat above the largest (no gain is assumed where none was
    measured)."""
    if gpus in points:
        return points[gpus]
    counts = sorted(points)
    if gpus < counts[0]:
        return points[counts[0]] * gpus / counts[0]
    if gpus > counts[-1]:
        return points[counts[-1]]
    hi = next(c for c in counts if c > gpus)
    lo = max(c for c in counts if c < gpus)
    f = (gpus - lo) / (hi - lo)
    return points[lo] + f * (points[hi] - points[lo])


@dataclass(frozen=True, slots=True)
class JobProgress:
    """What is known of one job's progress: the service it has received and, where known
    (the simulator knows; the live service may not), its remaining work and its rate on
    each GPU model. Policies from the literature read it: least attained service
    (Tiresias), shortest remaining time (SJF), time shares (Gavel), finish-time fairness
    (Themis)."""

    attained_gpu_s: float = 0.0
    """GPU-seconds held so far, over all runs (a running job's current run included)."""
    run_s_by_model: Mapping[str, float] = field(default_factory=dict)
    """Wall seconds run so far on each GPU model."""
    remaining_work: float | None = None
    """Work left, in the unit of `rates` (rate x seconds); None: unknown."""
    rates: Mapping[str, float] = field(default_factory=dict)
    """Work per second on each GPU model at the job's requested size; empty: unknown."""
    scaling: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    """Work per second by GPU model and total GPU count, where measured (elastic jobs)."""
    first_arrival_s: float = 0.0
    """When the job was submitted, in seconds since the simulation start (0 live)."""
    estimates: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    """A scheduler's estimate of `scaling` where the job model tells it apart (the Sia
    artifact's scheduler caps a tuned job's batch at its submitted one); empty: use
    `scaling`."""
    step_rates: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    """Optimiser steps per second by GPU model and GPU count, where the job model tells
    them apart from `scaling` (goodput jobs: throughput without statistical efficiency,
    what Gavel calls throughput); empty otherwise."""

    def remaining_s(self, model: str | None = None) -> float | None:
        """Seconds of work left on `model` (None: the fastest known model)."""
        if self.remaining_work is None or not self.rates:
            return None
        rate = self.rates.get(model, 0.0) if model else max(self.rates.values())
        return self.remaining_work / rate if rate > 0 else None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one cycle decides over: schedulable clusters with their free capacity,
    the pending queue (submission order), the jobs holding resources (for preemption and
    backfill), tenants' shares, quotas and decayed usage, and placement signals."""

    now: datetime
    clusters: tuple[ClusterView, ...]
    queue: tuple[Job, ...]
    running: tuple[Job, ...] = ()
    """Jobs holding resources (SCHEDULED or RUNNING) on the clusters above."""
    shares: Mapping[TenantId, TenantShare] = field(default_factory=dict)
    quotas: tuple[Quota, ...] = ()
    usage_units: Mapping[TenantId, float] = field(default_factory=dict)
    """Each tenant's past usage in standard units (SCH), decayed by the half-life."""
    regions: Mapping[RegionId, RegionView] = field(default_factory=dict)
    latency: LatencyMatrix | None = None
    throughput: Mapping[tuple[str, str], float] = field(default_factory=dict)
    """Measured throughput of (job_type, GPU model) in the job type's own unit (e.g.
    samples/s); only ratios between models of one job type matter."""
    progress: Mapping[JobId, JobProgress] = field(default_factory=dict)
    """Per job in the queue (and running): service received, remaining work, rates."""
    round_s: float | None = None
    """Set when the caller runs rounds (time-sharing leases): every job holding resources
    is in `queue` again (status RUNNING, its placements kept), all capacity is free, and
    a job admitted to the same placements keeps running; others are suspended. None: the
    ordinary event-driven cycle."""
    offline: tuple[ClusterId, ...] = ()
    """Registered clusters left out as not schedulable now (unreachable, draining): a job
    that fits none of `clusters` may fit one of these when it is back."""
    _nodes: tuple[tuple[ClusterView, NodeView], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Flattened once: policies walk the node list for every job in the queue.
        flat = tuple((c, n) for c in self.clusters for n in c.nodes)
        object.__setattr__(self, "_nodes", flat)

    def nodes(self) -> tuple[tuple[ClusterView, NodeView], ...]:
        return self._nodes

    def gpu_models(self) -> list[str]:
        """The pool's GPU models in cluster and node order."""
        return list(dict.fromkeys(m for _, n in self._nodes for m in n.capacity.gpus))


@dataclass(frozen=True, slots=True)
class PoolInputs:
    """What a cycle knows besides capacity and jobs, and changes slowly: tenants' shares,
    quotas and decayed usage, clusters' reliability and posted prices, regions and the
    latency between them, measured throughput. The live scheduler reads them from the
    store (every 30 s, and after a quota or share change); a simulation is given them
    (`Simulator(inputs=...)`; the default: none, every tenant alike)."""

    shares: Mapping[TenantId, TenantShare] = field(default_factory=dict)
    quotas: tuple[Quota, ...] = ()
    usage_units: Mapping[TenantId, float] = field(default_factory=dict)
    reliability: Mapping[ClusterId, float] = field(default_factory=dict)
    regions: Mapping[RegionId, RegionView] = field(default_factory=dict)
    latency: LatencyMatrix | None = None
    prices: Mapping[ClusterId, float] = field(default_factory=dict)
    """Posted on-demand price per cluster: replaces the cluster's hand-set one."""
    throughput: Mapping[tuple[str, str], float] = field(default_factory=dict)


def build_snapshot(
    now: datetime,
    clusters: Sequence[ClusterView],
    queue: Sequence[Job],
    running: Sequence[Job],
    inputs: PoolInputs,
    *,
    progress: Mapping[JobId, JobProgress],
    round_s: float | None = None,
    offline: Sequence[ClusterId] = (),
) -> Snapshot:
    """The one way a cycle's snapshot is made, live (`services/scheduler.py`, from the
    store) and simulated (`logic/simulation/engine.py`, from the simulated pool): the
    clusters with the inputs' prices and reliability, and every input in its place."""
    if inputs.prices or inputs.reliability:
        clusters = [
            replace(
                c,
                gpu_hour_price=inputs.prices.get(c.id, c.gpu_hour_price),
                reliability=inputs.reliability.get(c.id, c.reliability),
            )
            for c in clusters
        ]
    return Snapshot(
        now,
        tuple(clusters),
        tuple(queue),
        tuple(running),
        shares=inputs.shares,
        quotas=inputs.quotas,
        usage_units=inputs.usage_units,
        regions=inputs.regions,
        latency=inputs.latency,
        throughput=inputs.throughput,
        progress=progress,
        round_s=round_s,
        offline=tuple(offline),
    )


def expected_end(job: Job, now: datetime) -> datetime | None:
    """When a holding job will have released its resources at the latest: its start (or
    now, if not started) plus its time limit; None when it has no limit."""
    if job.spec.time_limit_s is None:
        return None
    start = job.started_at or job.updated_at or now
    return max(start + timedelta(seconds=job.spec.time_limit_s), now)
