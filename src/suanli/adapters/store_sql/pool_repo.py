"""SQL repository of regions, providers, clusters and nodes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from suanli.adapters.store_sql.decimals import e4, from_e4
from suanli.adapters.store_sql.tables import cluster_outages, clusters, nodes, providers, regions
from suanli.domain.calibration import NodeCalibration
from suanli.domain.ids import ClusterId, NodeId, ProviderId, RegionId
from suanli.domain.pool import Capability, Cluster, ClusterState, Node, Provider, Region
from suanli.domain.resources import Resources


def _cluster(row: Any) -> Cluster:
    return Cluster(
        id=ClusterId(row.id),
        provider_id=ProviderId(row.provider_id),
        region_id=RegionId(row.region_id),
        engine=row.engine,
        state=ClusterState(row.state),
        registered_at=row.registered_at,
        last_heartbeat_at=row.last_heartbeat_at,
        agent_version=row.agent_version,
        gpu_hour_price=None if row.gpu_hour_price_e4 is None else from_e4(row.gpu_hour_price_e4),
        capabilities=_capabilities(row.capabilities),
    )


def _capabilities(raw: Any) -> frozenset[Capability] | None:
    """Stored names the code no longer knows are dropped (an older agent's list)."""
    if raw is None:
        return None
    known = {c.value for c in Capability}
    return frozenset(Capability(name) for name in raw if name in known)


def _region(row: Any) -> Region:
    return Region(
        RegionId(row.id),
        row.name,
        row.latitude,
        row.longitude,
        energy_price=row.energy_price,
        carbon_intensity=row.carbon_intensity,
    )


def _node(row: Any) -> Node:
    return Node(
        cluster_id=ClusterId(row.cluster_id),
        id=NodeId(row.id),
        capacity=Resources(row.cpu_milli, row.memory_mb, row.gpus, row.gpu_memory_mb),
        hostname=row.hostname,
        calibration=NodeCalibration.from_json(row.calibration) if row.calibration else None,
    )


class SqlPoolRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add_region(self, region: Region) -> None:
        self._c.execute(
            insert(regions).values(
                id=region.id,
                name=region.name,
                latitude=region.latitude,
                longitude=region.longitude,
                energy_price=region.energy_price,
                carbon_intensity=region.carbon_intensity,
            )
        )

    def get_region(self, region_id: RegionId) -> Region | None:
        row = self._c.execute(select(regions).where(regions.c.id == region_id)).first()
        return _region(row) if row else None

    def update_region(self, region: Region) -> None:
        self._c.execute(
            update(regions)
            .where(regions.c.id == region.id)
            .values(
                name=region.name,
                latitude=region.latitude,
                longitude=region.longitude,
                energy_price=region.energy_price,
                carbon_intensity=region.carbon_intensity,
            )
        )

    def list_regions(self) -> list[Region]:
        rows = self._c.execute(select(regions).order_by(regions.c.id))
        return [_region(r) for r in rows]

    def add_provider(self, provider: Provider) -> None:
        self._c.execute(insert(providers).values(id=provider.id, name=provider.name))

    def get_provider(self, provider_id: ProviderId) -> Provider | None:
        row = self._c.execute(select(providers).where(providers.c.id == provider_id)).first()
        return Provider(ProviderId(row.id), row.name) if row else None

    def list_providers(self) -> list[Provider]:
        rows = self._c.execute(select(providers).order_by(providers.c.id))
        return [Provider(ProviderId(r.id), r.name) for r in rows]

    def add_cluster(self, cluster: Cluster) -> None:
        self._c.execute(
            insert(clusters).values(
                id=cluster.id,
                provider_id=cluster.provider_id,
                region_id=cluster.region_id,
                engine=cluster.engine,
                state=cluster.state.value,
                registered_at=cluster.registered_at,
                last_heartbeat_at=cluster.last_heartbeat_at,
                agent_version=cluster.agent_version,
                gpu_hour_price_e4=None
                if cluster.gpu_hour_price is None
                else e4(cluster.gpu_hour_price),
                capabilities=None
                if cluster.capabilities is None
                else sorted(c.value for c in cluster.capabilities),
            )
        )

    def get_cluster(self, cluster_id: ClusterId) -> Cluster | None:
        row = self._c.execute(select(clusters).where(clusters.c.id == cluster_id)).first()
        return _cluster(row) if row else None

    def list_clusters(self) -> list[Cluster]:
        return [_cluster(r) for r in self._c.execute(select(clusters).order_by(clusters.c.id))]

    def set_cluster_state(
        self,
        cluster_id: ClusterId,
        state: ClusterState,
        *,
        heartbeat_at: datetime | None,
        agent_version: str | None = None,
        capabilities: frozenset[Capability] | None = None,
    ) -> None:
        values: dict[str, Any] = {"state": state.value}
        if capabilities is not None:
            values["capabilities"] = sorted(c.value for c in capabilities)
        if heartbeat_at is not None:
            values["last_heartbeat_at"] = heartbeat_at
        if agent_version is not None:
            values["agent_version"] = agent_version
        self._c.execute(update(clusters).where(clusters.c.id == cluster_id).values(**values))

    def replace_nodes(self, cluster_id: ClusterId, new_nodes: Sequence[Node]) -> None:
        self._c.execute(delete(nodes).where(nodes.c.cluster_id == cluster_id))
        if new_nodes:
            self._c.execute(
                insert(nodes),
                [
                    {
                        "cluster_id": cluster_id,
                        "id": n.id,
                        "hostname": n.hostname,
                        "cpu_milli": n.capacity.cpu_milli,
                        "memory_mb": n.capacity.memory_mb,
                        "gpus": dict(n.capacity.gpus),
                        "gpu_memory_mb": n.capacity.gpu_memory_mb,
                        "calibration": n.calibration.to_json() if n.calibration else None,
                    }
                    for n in new_nodes
                ],
            )

    def get_node(self, cluster_id: ClusterId, node_id: NodeId) -> Node | None:
        row = self._c.execute(
            select(nodes).where(nodes.c.cluster_id == cluster_id, nodes.c.id == node_id)
        ).first()
        return _node(row) if row else None

    def set_cluster_price(self, cluster_id: ClusterId, gpu_hour_price: Decimal | None) -> None:
        price = None if gpu_hour_price is None else e4(gpu_hour_price)
        self._c.execute(
            update(clusters).where(clusters.c.id == cluster_id).values(gpu_hour_price_e4=price)
        )

    def set_calibration_requested(self, cluster_id: ClusterId, requested: bool) -> None:
        self._c.execute(
            update(clusters)
            .where(clusters.c.id == cluster_id)
            .values(calibration_requested=requested)
        )

    def calibration_requested(self, cluster_id: ClusterId) -> bool:
        value = self._c.execute(
            select(clusters.c.calibration_requested).where(clusters.c.id == cluster_id)
        ).scalar()
        return bool(value)

    def list_nodes(self, cluster_id: ClusterId | None = None) -> list[Node]:
        query = select(nodes).order_by(nodes.c.cluster_id, nodes.c.id)
        if cluster_id is not None:
            query = query.where(nodes.c.cluster_id == cluster_id)
        return [_node(r) for r in self._c.execute(query)]

    def open_outage(self, cluster_id: ClusterId, began_at: datetime) -> None:
        open_one = select(cluster_outages.c.id).where(
            cluster_outages.c.cluster_id == cluster_id, cluster_outages.c.ended_at.is_(None)
        )
        if self._c.execute(open_one).first() is None:
            self._c.execute(
                insert(cluster_outages).values(cluster_id=cluster_id, began_at=began_at)
            )

    def close_outage(self, cluster_id: ClusterId, ended_at: datetime) -> None:
        self._c.execute(
            update(cluster_outages)
            .where(cluster_outages.c.cluster_id == cluster_id, cluster_outages.c.ended_at.is_(None))
            .values(ended_at=ended_at)
        )

    def outages_since(
        self, since: datetime
    ) -> dict[ClusterId, list[tuple[datetime, datetime | None]]]:
        query = select(
            cluster_outages.c.cluster_id, cluster_outages.c.began_at, cluster_outages.c.ended_at
        ).where(or_(cluster_outages.c.ended_at.is_(None), cluster_outages.c.ended_at >= since))
        out: dict[ClusterId, list[tuple[datetime, datetime | None]]] = {}
        for r in self._c.execute(query):
            out.setdefault(ClusterId(r.cluster_id), []).append((r.began_at, r.ended_at))
        return out
