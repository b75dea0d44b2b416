"""Pool use cases: register regions, providers and clusters; show capacity, use and free.

Registering a cluster returns its agent token once: the agent presents it on every call
and may act only for that cluster.

A provider admin registers, prices and recalibrates only its own provider's clusters;
another provider's cluster is refused (403: providers and clusters are public in the pool
listing, so there is nothing to hide). Regions and providers are the operator's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum

from suanli.domain.audit import AuditAction
from suanli.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from suanli.domain.geo import LatencyMatrix, Place
from suanli.domain.geo import places as default_places
from suanli.domain.ids import ClusterId, ProviderId, RegionId, UserId, slug
from suanli.domain.money import cny
from suanli.domain.permissions import Permission, allows, require
from suanli.domain.pool import Cluster, ClusterState, Node, Provider, Region
from suanli.domain.resources import ZERO, Resources
from suanli.domain.tenancy import Principal, Role
from suanli.logic.reliability import cluster_score, provider_scores, uptime
from suanli.ports.clock import Clock
from suanli.ports.ids import IdGenerator
from suanli.ports.store import Store, UnitOfWork
from suanli.services.audit import record
from suanli.services.auth import issue_token

ENGINES = ("local", "slurm", "ray", "kubernetes")
MAX_ENERGY_PRICE = 1_000.0
"""CNY per kWh; a sanity bound (retail power costs about 0.3-1.5)."""
MAX_CARBON_INTENSITY = 5_000.0
"""gCO2 per kWh; a sanity bound (coal power is about 1,000)."""
MAX_GPU_HOUR_PRICE = Decimal(1_000_000)
"""CNY per GPU-hour; a sanity bound."""


def _price(value: Decimal | float | str | None) -> Decimal | None:
    """A price from the API (a JSON number or a decimal string) or code: exact, from 0 to
    MAX_GPU_HOUR_PRICE, at most four decimals; None: not priced."""
    if value is None:
        return None
    hint = "give it in CNY per GPU-hour, e.g. 12.5, at most four decimals; null clears it."
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(
                f"gpu_hour_price {value!r} is not a price.", field="gpu_hour_price", hint=hint
            )
        value = repr(value)  # a JSON number's shortest text: 12.5, not 12.4999...
    price = cny(value, field="gpu_hour_price")
    if not 0 <= price <= MAX_GPU_HOUR_PRICE:
        raise InvalidInput(
            f"gpu_hour_price must be from 0 to {MAX_GPU_HOUR_PRICE:,} CNY per GPU-hour, "
            f"got {value}.",
            field="gpu_hour_price",
            hint=hint,
        )
    return price


class Keep(Enum):
    """Marks a setting an update leaves as it is (distinct from None, which clears it)."""

    KEEP = "keep"


KEEP = Keep.KEEP


def _setting(
    value: float | None, *, field: str, upper: float, unit: str, example: str
) -> float | None:
    """A non-negative finite number up to `upper`, or None (not set)."""
    if value is None:
        return None
    if isinstance(value, bool) or not math.isfinite(value) or not 0 <= value <= upper:
        raise InvalidInput(
            f"{field} must be a number from 0 to {upper:,g} {unit}, got {value!r}.",
            field=field,
            hint=f"give it in {unit}, e.g. {example}; null clears it.",
        )
    return float(value)


@dataclass(frozen=True, slots=True)
class NodeOccupancy:
    """A node's capacity, what active jobs' allocations hold of it, and what is free
    (occupancy now; metered usage over time is `UsageRecord`)."""

    node: Node
    used: Resources
    free: Resources


@dataclass(frozen=True, slots=True)
class ClusterOccupancy:
    """A cluster with its nodes' occupancy, running jobs and observed reliability."""

    cluster: Cluster
    nodes: list[NodeOccupancy]
    running_jobs: int
    uptime: float = 1.0
    """Share of the reliability window the cluster was reachable (logic/reliability.py)."""
    reliability: float = 1.0
    """Uptime times the smoothed share of its attempts it did not fail."""
    attempts_seen: int = 0
    """Attempts that ended on it in the window (0: its reliability is the prior's)."""

    @property
    def capacity(self) -> Resources:
        return sum((n.node.capacity for n in self.nodes), ZERO)

    @property
    def used(self) -> Resources:
        return sum((n.used for n in self.nodes), ZERO)


RELIABILITY_WINDOW = timedelta(days=7)
"""The sliding window of reliability: outages and attempt outcomes of the last 7 days."""


def reliability_by_cluster(
    uow: UnitOfWork,
    now: datetime,
    outcomes: Mapping[ClusterId, tuple[int, int]] | None = None,
) -> dict[ClusterId, tuple[float, float]]:
    """(uptime, reliability) of every cluster over the window before `now`; `outcomes`:
    `attempt_outcomes` over that window, when the caller has read it already."""
    since = now - RELIABILITY_WINDOW
    outages = uow.pool.outages_since(since)
    if outcomes is None:
        outcomes = uow.jobs.attempt_outcomes(since)
    out: dict[ClusterId, tuple[float, float]] = {}
    for c in uow.pool.list_clusters():
        up = uptime(outages.get(c.id, []), since=since, now=now, registered_at=c.registered_at)
        out[c.id] = (up, cluster_score(outcomes.get(c.id), up))
    return out


def cluster_occupancy(uow: UnitOfWork) -> list[ClusterOccupancy]:
    """Every cluster with per-node capacity, used (sum of active allocations) and free."""
    used: dict[tuple[str, str], Resources] = {}
    jobs_on: dict[str, int] = {}
    for cluster_id, node_id, allocation in uow.jobs.allocations():
        used[(cluster_id, node_id)] = used.get((cluster_id, node_id), ZERO) + allocation
        jobs_on[cluster_id] = jobs_on.get(cluster_id, 0) + 1
    nodes_by_cluster: dict[str, list[NodeOccupancy]] = {}
    for node in uow.pool.list_nodes():
        u = used.get((node.cluster_id, node.id), ZERO)
        nodes_by_cluster.setdefault(node.cluster_id, []).append(
            NodeOccupancy(node, u, node.capacity - u)
        )
    return [
        ClusterOccupancy(c, nodes_by_cluster.get(c.id, []), jobs_on.get(c.id, 0))
        for c in uow.pool.list_clusters()
    ]


def check_provider(principal: Principal, provider_id: ProviderId) -> None:
    """Forbidden unless the caller may act on `provider_id`'s clusters: its own provider,
    or any with ALL_PROVIDERS (the operator)."""
    if allows(principal.role, Permission.ALL_PROVIDERS):
        return
    if principal.provider_id != provider_id:
        raise Forbidden(
            f"You act for provider {principal.provider_id!r}, not {provider_id!r}.",
            field="provider_id",
            hint="use a token of that provider's admin, or ask the operator.",
        )


def _cluster_or_404(uow: UnitOfWork, cluster_id: ClusterId) -> Cluster:
    cluster = uow.pool.get_cluster(cluster_id)
    if cluster is None:
        raise NotFound(
            f"No cluster {cluster_id!r}.",
            field="cluster_id",
            hint="list clusters with `suanli pool`.",
        )
    return cluster


@dataclass(frozen=True, slots=True)
class RegionLink:
    """The round-trip time between two pool regions."""

    a: str
    b: str
    rtt_ms: float
    source: str
    """"measured" or "estimated" (from the regions' coordinates)."""


class PoolService:
    def __init__(self, store: Store, clock: Clock, ids: IdGenerator) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids

    def add_region(self, principal: Principal, region: Region) -> Region:
        require(principal, Permission.POOL_WRITE)
        slug(region.id, field="id")
        with self._store.unit_of_work() as uow:
            if uow.pool.get_region(region.id):
                raise Conflict(f"Region {region.id!r} already exists.", field="id")
            uow.pool.add_region(region)
            record(uow, principal, AuditAction.REGION_ADD, region.id, at=self._clock.now())
            uow.commit()
        return region

    def add_provider(self, principal: Principal, provider: Provider) -> Provider:
        require(principal, Permission.POOL_WRITE)
        slug(provider.id, field="id")
        with self._store.unit_of_work() as uow:
            if uow.pool.get_provider(provider.id):
                raise Conflict(f"Provider {provider.id!r} already exists.", field="id")
            uow.pool.add_provider(provider)
            record(
                uow,
                principal,
                AuditAction.PROVIDER_ADD,
                provider.id,
                at=self._clock.now(),
                provider_id=provider.id,
            )
            uow.commit()
        return provider

    def add_cluster(
        self,
        principal: Principal,
        cluster_id: ClusterId,
        *,
        provider_id: ProviderId,
        region_id: RegionId,
        engine: str,
    ) -> tuple[Cluster, str]:
        """Register a cluster under `provider_id` (a provider admin: only its own);
        returns it and its agent token (shown only here)."""
        require(principal, Permission.CLUSTER_WRITE)
        check_provider(principal, provider_id)
        slug(cluster_id, field="id")
        if engine not in ENGINES:
            raise InvalidInput(
                f"Unknown engine {engine!r}.",
                field="engine",
                hint=f"use one of {', '.join(ENGINES)}.",
            )
        with self._store.unit_of_work() as uow:
            if uow.pool.get_cluster(cluster_id):
                raise Conflict(f"Cluster {cluster_id!r} already exists.", field="id")
            if not uow.pool.get_provider(provider_id):
                raise NotFound(
                    f"No provider {provider_id!r}.",
                    field="provider_id",
                    hint="register it first: POST /v1/providers.",
                )
            if not uow.pool.get_region(region_id):
                raise NotFound(
                    f"No region {region_id!r}.",
                    field="region_id",
                    hint="register it first: POST /v1/regions.",
                )
            cluster = Cluster(
                cluster_id,
                provider_id,
                region_id,
                engine,
                ClusterState.REGISTERED,
                self._clock.now(),
            )
            uow.pool.add_cluster(cluster)
            token = issue_token(
                uow,
                self._ids,
                self._clock,
                Principal(None, UserId(f"agent:{cluster_id}"), Role.AGENT, cluster_id, provider_id),
            )
            record(
                uow,
                principal,
                AuditAction.CLUSTER_ADD,
                cluster_id,
                at=cluster.registered_at,
                provider_id=provider_id,
                region=region_id,
                engine=engine,
            )
            uow.commit()
        return cluster, token

    def request_calibration(self, principal: Principal, cluster_id: ClusterId) -> None:
        """Ask the cluster's agent to measure its nodes again (on its next heartbeat); a
        provider admin only for its own clusters."""
        require(principal, Permission.CLUSTER_WRITE)
        with self._store.unit_of_work() as uow:
            cluster = _cluster_or_404(uow, cluster_id)
            check_provider(principal, cluster.provider_id)
            uow.pool.set_calibration_requested(cluster_id, True)
            record(
                uow,
                principal,
                AuditAction.CLUSTER_CALIBRATE,
                cluster_id,
                at=self._clock.now(),
                provider_id=cluster.provider_id,
            )
            uow.commit()

    def update_region(
        self,
        principal: Principal,
        region_id: RegionId,
        *,
        energy_price: float | Keep | None = KEEP,
        carbon_intensity: float | Keep | None = KEEP,
    ) -> Region:
        """Set (a number), clear (None) or keep (KEEP) a region's electricity price
        (CNY/kWh) and grid carbon intensity (gCO2/kWh)."""
        require(principal, Permission.REGION_WRITE)
        if not isinstance(energy_price, Keep):
            energy_price = _setting(
                energy_price,
                field="energy_price",
                upper=MAX_ENERGY_PRICE,
                unit="CNY per kWh",
                example="0.6",
            )
        if not isinstance(carbon_intensity, Keep):
            carbon_intensity = _setting(
                carbon_intensity,
                field="carbon_intensity",
                upper=MAX_CARBON_INTENSITY,
                unit="gCO2 per kWh",
                example="580",
            )
        with self._store.unit_of_work() as uow:
            region = uow.pool.get_region(region_id)
            if region is None:
                raise NotFound(
                    f"No region {region_id!r}.",
                    field="region_id",
                    hint="list regions with GET /v1/regions.",
                )
            region = replace(
                region,
                energy_price=region.energy_price
                if isinstance(energy_price, Keep)
                else energy_price,
                carbon_intensity=region.carbon_intensity
                if isinstance(carbon_intensity, Keep)
                else carbon_intensity,
            )
            uow.pool.update_region(region)
            record(
                uow,
                principal,
                AuditAction.REGION_UPDATE,
                region_id,
                at=self._clock.now(),
                energy_price=region.energy_price,
                carbon_intensity=region.carbon_intensity,
            )
            uow.commit()
        return region

    def set_cluster_price(
        self,
        principal: Principal,
        cluster_id: ClusterId,
        gpu_hour_price: Decimal | float | str | None,
    ) -> Cluster:
        """Post a cluster's price in CNY per GPU-hour (per core-hour for a CPU-only
        cluster), kept exactly to 0.0001 CNY; None withdraws it. A provider admin prices
        only its own clusters."""
        require(principal, Permission.PRICE_WRITE)
        price = _price(gpu_hour_price)
        with self._store.unit_of_work() as uow:
            cluster = _cluster_or_404(uow, cluster_id)
            check_provider(principal, cluster.provider_id)
            uow.pool.set_cluster_price(cluster_id, price)
            record(
                uow,
                principal,
                AuditAction.PRICE_SET,
                cluster_id,
                at=self._clock.now(),
                provider_id=cluster.provider_id,
                before=None if cluster.gpu_hour_price is None else str(cluster.gpu_hour_price),
                after=None if price is None else str(price),
            )
            uow.commit()
        return replace(cluster, gpu_hour_price=price)

    def regions(self, principal: Principal) -> list[Region]:
        require(principal, Permission.POOL_READ)
        with self._store.unit_of_work(readonly=True) as uow:
            return uow.pool.list_regions()

    def latencies(self, principal: Principal) -> list[RegionLink]:
        """Every pair of pool regions with coordinates (each pair once, a < b) and its
        round-trip time as the scheduler sees it (docs/latency.md)."""
        regions = self.regions(principal)
        matrix = latency_matrix(regions)
        ids = sorted(r.id for r in regions if r.latitude is not None and r.longitude is not None)
        return [
            RegionLink(a, b, matrix.rtt_ms(a, b), matrix.source(a, b))
            for i, a in enumerate(ids)
            for b in ids[i + 1 :]
        ]

    def providers(self, principal: Principal) -> list[Provider]:
        require(principal, Permission.POOL_READ)
        with self._store.unit_of_work(readonly=True) as uow:
            return uow.pool.list_providers()

    def clusters(self, principal: Principal) -> list[ClusterOccupancy]:
        """Every cluster with its usage and reliability over `RELIABILITY_WINDOW`."""
        require(principal, Permission.POOL_READ)
        now = self._clock.now()
        with self._store.unit_of_work(readonly=True) as uow:
            usage = cluster_occupancy(uow)
            seen = uow.jobs.attempt_outcomes(now - RELIABILITY_WINDOW)
            scores = reliability_by_cluster(uow, now, seen)
        return [
            replace(
                u,
                uptime=scores[u.cluster.id][0],
                reliability=scores[u.cluster.id][1],
                attempts_seen=seen.get(u.cluster.id, (0, 0))[0],
            )
            for u in usage
        ]

    def provider_reliability(self, principal: Principal) -> dict[str, float]:
        """Each provider's reliability: its clusters', weighted by GPUs (else cores)."""
        usage = self.clusters(principal)
        return provider_scores(
            {u.cluster.id: u.reliability for u in usage},
            {u.cluster.id: u.cluster.provider_id for u in usage},
            {u.cluster.id: float(u.capacity.gpu_count or u.capacity.cpus) for u in usage},
        )

    def cluster(self, principal: Principal, cluster_id: ClusterId) -> ClusterOccupancy:
        for usage in self.clusters(principal):
            if usage.cluster.id == cluster_id:
                return usage
        raise NotFound(
            f"No cluster {cluster_id!r}.",
            field="cluster_id",
            hint="list clusters with `suanli pool`.",
        )


def latency_matrix(regions: Sequence[Region]) -> LatencyMatrix:
    """RTTs between pool regions (from their coordinates) and the cities of the latency
    table (so a client region may be a city without a cluster). A pool region's own
    coordinates win over a city of the same id."""
    table: dict[str, Place] = dict(default_places())
    for r in regions:
        if r.latitude is not None and r.longitude is not None:
            table[r.id] = Place(r.id, r.name, r.name, "region", "", r.latitude, r.longitude, "pool")
    return LatencyMatrix(region_places={p: p for p in table}, place_table=table)
