"""The immutable view of pool and queue that one scheduling cycle decides over."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from suanli.domain.ids import ClusterId, NodeId, ProviderId, RegionId
from suanli.domain.jobs import Job
from suanli.domain.resources import Resources


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


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Schedulable clusters with their free capacity, and the pending queue in
    submission order."""

    now: datetime
    clusters: tuple[ClusterView, ...]
    queue: tuple[Job, ...]
    _nodes: tuple[tuple[ClusterView, NodeView], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Flattened once: policies walk the node list for every job in the queue.
        flat = tuple((c, n) for c in self.clusters for n in c.nodes)
        object.__setattr__(self, "_nodes", flat)

    def nodes(self) -> tuple[tuple[ClusterView, NodeView], ...]:
        return self._nodes
