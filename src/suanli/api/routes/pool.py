"""The pool: regions, providers, clusters and nodes with capacity, used and free."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Query

from suanli.api.access import Scope, access
from suanli.api.schemas import (
    ClusterCreate,
    ClusterPrice,
    ClusterPublic,
    ClusterRegistered,
    PoolHistoryPublic,
    PoolSeriesPublic,
    ProviderCreate,
    ProviderPublic,
    RegionCreate,
    RegionLinkPublic,
    RegionPublic,
    RegionUpdate,
)
from suanli.api.security import Caller, Plat
from suanli.domain.history import MAX_HISTORY_HOURS
from suanli.domain.ids import ClusterId, ProviderId, RegionId
from suanli.domain.permissions import Permission
from suanli.domain.pool import Provider, Region
from suanli.services.history import iso
from suanli.services.pool import KEEP

router = APIRouter(tags=["pool"])


@router.get("/regions", response_model=list[RegionPublic])
@access(Permission.POOL_READ, Scope.POOL)
def list_regions(caller: Caller, plat: Plat) -> list[RegionPublic]:
    return [RegionPublic.of(r) for r in plat.pool.regions(caller)]


@router.get("/regions/latency", response_model=list[RegionLinkPublic])
@access(Permission.POOL_READ, Scope.POOL)
def region_latencies(caller: Caller, plat: Plat) -> list[RegionLinkPublic]:
    """Round-trip times between every pair of pool regions with coordinates (each pair
    once): measured where agents measured, else estimated (docs/latency.md)."""
    return [RegionLinkPublic(**asdict(link)) for link in plat.pool.latencies(caller)]


@router.get("/pool/history", response_model=PoolHistoryPublic)
@access(Permission.POOL_READ, Scope.POOL)
def pool_history(
    caller: Caller,
    plat: Plat,
    hours: float = Query(24.0, gt=0, le=MAX_HISTORY_HOURS, description="how far back"),
) -> PoolHistoryPublic:
    """Capacity and use of every region and resource over the last `hours` (sampled each
    minute, kept 30 days), and the number of pending and running jobs, each averaged into
    at most 500 buckets (the dashboard's utilisation page)."""
    found = plat.history.read(caller, hours=hours)
    return PoolHistoryPublic(
        since=found.since,
        until=found.until,
        step_s=found.step_s,
        pool=[
            PoolSeriesPublic(
                region=s.region_id,
                resource=s.resource,
                points=[(iso(at), total, used) for at, total, used in s.points],
            )
            for s in found.pool
        ],
        queue=[(iso(at), pending, running) for at, pending, running in found.queue],
    )


@router.post("/regions", status_code=201, response_model=RegionPublic)
@access(Permission.POOL_WRITE, Scope.PLATFORM)
def add_region(body: RegionCreate, caller: Caller, plat: Plat) -> RegionPublic:
    plat.pool.add_region(
        caller, Region(RegionId(body.id), body.name or body.id, body.latitude, body.longitude)
    )
    return RegionPublic(**body.model_dump())


@router.patch("/regions/{region_id}", response_model=RegionPublic)
@access(Permission.REGION_WRITE, Scope.PLATFORM)
def update_region(region_id: str, body: RegionUpdate, caller: Caller, plat: Plat) -> RegionPublic:
    """Set a region's energy price (CNY/kWh) and carbon intensity (gCO2/kWh), used for
    green placement (operator). Fields left out are kept; null clears one."""
    given = body.model_fields_set
    region = plat.pool.update_region(
        caller,
        RegionId(region_id),
        energy_price=body.energy_price if "energy_price" in given else KEEP,
        carbon_intensity=body.carbon_intensity if "carbon_intensity" in given else KEEP,
    )
    return RegionPublic.of(region)


@router.get("/providers", response_model=list[ProviderPublic])
@access(Permission.POOL_READ, Scope.POOL)
def list_providers(caller: Caller, plat: Plat) -> list[ProviderPublic]:
    scores = plat.pool.provider_reliability(caller)
    return [
        ProviderPublic(id=p.id, name=p.name, reliability=scores.get(p.id))
        for p in plat.pool.providers(caller)
    ]


@router.post("/providers", status_code=201, response_model=ProviderPublic)
@access(Permission.POOL_WRITE, Scope.PLATFORM)
def add_provider(body: ProviderCreate, caller: Caller, plat: Plat) -> ProviderPublic:
    plat.pool.add_provider(caller, Provider(ProviderId(body.id), body.name or body.id))
    return ProviderPublic(**body.model_dump())


@router.get("/clusters", response_model=list[ClusterPublic])
@access(Permission.POOL_READ, Scope.POOL)
def list_clusters(caller: Caller, plat: Plat) -> list[ClusterPublic]:
    return [ClusterPublic.of(u) for u in plat.pool.clusters(caller)]


@router.post("/clusters", status_code=201, response_model=ClusterRegistered)
@access(Permission.CLUSTER_WRITE, Scope.PROVIDER)
def add_cluster(body: ClusterCreate, caller: Caller, plat: Plat) -> ClusterRegistered:
    cluster, token = plat.pool.add_cluster(
        caller,
        ClusterId(body.id),
        provider_id=ProviderId(body.provider_id),
        region_id=RegionId(body.region_id),
        engine=body.engine,
    )
    return ClusterRegistered(
        cluster=ClusterPublic.of(plat.pool.cluster(caller, cluster.id)), agent_token=token
    )


@router.get("/clusters/{cluster_id}", response_model=ClusterPublic)
@access(Permission.POOL_READ, Scope.POOL)
def get_cluster(cluster_id: str, caller: Caller, plat: Plat) -> ClusterPublic:
    return ClusterPublic.of(plat.pool.cluster(caller, ClusterId(cluster_id)))


@router.post("/clusters/{cluster_id}/calibrate", status_code=202)
@access(Permission.CLUSTER_WRITE, Scope.PROVIDER)
def request_calibration(cluster_id: str, caller: Caller, plat: Plat) -> dict[str, str]:
    """Ask the cluster's agent to measure its nodes again; it does so on its next
    heartbeat and the new ratings apply to attempts that end afterwards."""
    plat.pool.request_calibration(caller, ClusterId(cluster_id))
    return {"cluster_id": cluster_id, "status": "calibration requested"}


@router.put("/clusters/{cluster_id}/price", response_model=ClusterPublic)
@access(Permission.PRICE_WRITE, Scope.PROVIDER)
def set_cluster_price(
    cluster_id: str, body: ClusterPrice, caller: Caller, plat: Plat
) -> ClusterPublic:
    """Post the cluster's price per GPU-hour (operator or provider); null withdraws it."""
    plat.pool.set_cluster_price(caller, ClusterId(cluster_id), body.gpu_hour_price)
    return ClusterPublic.of(plat.pool.cluster(caller, ClusterId(cluster_id)))
