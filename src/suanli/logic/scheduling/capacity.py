"""Free capacity during one cycle, indexed so that a fit query does not scan every node.

Nodes are bucketed per cluster by GPU model and free device count, and each cluster keeps
its free devices per model, so "can this cluster hold 2 x 8 H100 now?" is answered from
the summary before any node is looked at, and a one-node job is best-fitted by walking
the buckets from the smallest free count that suffices. Capacity only shrinks within a
cycle (admissions take, nothing returns), which keeps the index simple.

Backfill adds *limits*: on nodes reserved for the head job, jobs that would still run at
the reservation's start may use only the slack that leaves the reservation whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from suanli.domain.errors import DomainError
from suanli.domain.ids import ClusterId, NodeId
from suanli.domain.jobs import Placement
from suanli.domain.resources import Resources
from suanli.logic.scheduling.snapshot import ClusterView

NodeKey = tuple[ClusterId, NodeId]
CPU_ONLY = ""
"""The 'model' of nodes without GPUs in the index."""


def members_fit(member: Resources, free: Resources) -> int:
    """How many copies of `member` (GPU model bound) fit in `free`."""
    if member.gpu_memory_mb and free.gpu_memory_mb and member.gpu_memory_mb > free.gpu_memory_mb:
        return 0
    n = 1 << 30
    if member.cpu_milli:
        n = min(n, free.cpu_milli // member.cpu_milli)
    if member.memory_mb:
        n = min(n, free.memory_mb // member.memory_mb)
    for model, count in member.gpus.items():
        n = min(n, free.gpus.get(model, 0) // count)
    return max(n, 0)


def times(member: Resources, k: int) -> Resources:
    return Resources(
        member.cpu_milli * k,
        member.memory_mb * k,
        {m: c * k for m, c in member.gpus.items()},
        member.gpu_memory_mb,
    )


@dataclass(slots=True)
class _ClusterIndex:
    view: ClusterView
    keys: list[NodeKey]
    buckets: dict[str, dict[int, dict[NodeKey, None]]] = field(default_factory=dict)
    """model -> free devices -> nodes (an ordered set); CPU_ONLY nodes sit in bucket 0."""
    free_total: dict[str, int] = field(default_factory=dict)
    capacity_total: dict[str, int] = field(default_factory=dict)
    node_max: dict[str, int] = field(default_factory=dict)
    """The most devices of a model any one node of the cluster has (empty)."""
    shapes: dict[str, dict[tuple[object, ...], tuple[Resources, int]]] = field(default_factory=dict)
    """model -> distinct node capacities -> how many nodes have it (clusters are mostly
    homogeneous, so 'could it ever hold' looks at a handful of shapes, not every node)."""
    examples: dict[tuple[object, ...], NodeKey] = field(default_factory=dict)
    """One node of each distinct capacity (to name in reasons)."""


class Capacity:
    """The working free capacity of one cycle."""

    def __init__(self, clusters: Iterable[ClusterView]) -> None:
        self.free: dict[NodeKey, Resources] = {}
        self.capacity: dict[NodeKey, Resources] = {}
        self.limits: dict[NodeKey, Resources] = {}
        self.clusters: dict[ClusterId, _ClusterIndex] = {}
        for c in clusters:
            index = _ClusterIndex(c, [])
            for n in c.nodes:
                key = (c.id, n.node_id)
                index.keys.append(key)
                self.free[key] = n.free
                self.capacity[key] = n.capacity
                models = list(n.capacity.gpus) or [CPU_ONLY]
                for model in models:
                    have = n.free.gpus.get(model, 0) if model else 0
                    index.buckets.setdefault(model, {}).setdefault(have, {})[key] = None
                    index.free_total[model] = index.free_total.get(model, 0) + have
                    cap = n.capacity.gpus.get(model, 0) if model else 0
                    index.capacity_total[model] = index.capacity_total.get(model, 0) + cap
                    index.node_max[model] = max(index.node_max.get(model, 0), cap)
                    shapes = index.shapes.setdefault(model, {})
                    r = n.capacity
                    shape = (r.cpu_milli, r.memory_mb, tuple(r.gpus.items()), r.gpu_memory_mb)
                    shapes[shape] = (r, shapes[shape][1] + 1 if shape in shapes else 1)
                    index.examples.setdefault(shape, key)
            self.clusters[c.id] = index

    def models(self, cluster_id: ClusterId) -> Iterable[str]:
        """GPU models present in the cluster (CPU_ONLY for GPU-less nodes)."""
        return self.clusters[cluster_id].buckets.keys()

    def free_devices(self, cluster_id: ClusterId, model: str) -> int:
        return self.clusters[cluster_id].free_total.get(model, 0)

    def total_devices(self, cluster_id: ClusterId, model: str) -> int:
        return self.clusters[cluster_id].capacity_total.get(model, 0)

    def distinct_nodes(self) -> Iterator[tuple[NodeKey, Resources]]:
        """One node of each distinct capacity per cluster, with that capacity."""
        for index in self.clusters.values():
            for key in index.examples.values():
                yield key, self.capacity[key]

    def could_ever_hold(self, cluster_id: ClusterId, member: Resources, members: int) -> bool:
        """Whether the cluster, empty, could hold the gang (node by node)."""
        index = self.clusters[cluster_id]
        model = next(iter(member.gpus), CPU_ONLY)
        kinds = [model] if model else list(index.shapes)
        room = 0
        for kind in kinds:
            for capacity, count in index.shapes.get(kind, {}).values():
                room += members_fit(member, capacity) * count
                if room >= members:
                    return True
        return False

    def could_hold_now(self, cluster_id: ClusterId, member: Resources, members: int) -> bool:
        """A quick necessary condition: enough free devices of the member's model in the
        cluster, and a node with enough for one member (CPU-only work: always True)."""
        index = self.clusters[cluster_id]
        model = next(iter(member.gpus), CPU_ONLY)
        if not model:
            return True
        need = member.gpus[model]
        if index.free_total.get(model, 0) < need * members:
            return False
        return any(k >= need and nodes for k, nodes in index.buckets.get(model, {}).items())

    def nodes_with_room(self, cluster_id: ClusterId, member: Resources) -> list[NodeKey]:
        """Nodes with at least one member's devices free (all nodes for CPU-only work)."""
        index = self.clusters[cluster_id]
        model = next(iter(member.gpus), CPU_ONLY)
        if not model:
            return index.keys
        need = member.gpus[model]
        buckets = index.buckets.get(model, {})
        return [k for count, nodes in buckets.items() if count >= need for k in nodes]

    def members_now(self, cluster_id: ClusterId, member: Resources) -> int:
        """An upper bound of the members that fit now, from GPU counts alone (CPU-only
        members: the free CPU-only nodes that could take one)."""
        index = self.clusters[cluster_id]
        model = next(iter(member.gpus), CPU_ONLY)
        buckets = index.buckets.get(model, {})
        if not model:
            return sum(1 for k in buckets.get(0, {}) if members_fit(member, self.free[k]) > 0)
        need = member.gpus[model]
        return sum(len(nodes) * (k // need) for k, nodes in buckets.items() if k >= need)

    def _nodes_for(
        self, index: _ClusterIndex, member: Resources, descending: bool
    ) -> Iterator[NodeKey]:
        model = next(iter(member.gpus), CPU_ONLY)
        need = member.gpus.get(model, 0) if model else 0
        # CPU-only work may also use GPU nodes' cores, after the CPU-only nodes.
        models = [model] if model else [CPU_ONLY, *(m for m in index.buckets if m)]
        for m in models:
            buckets = index.buckets.get(m)
            if buckets is None:
                continue
            for k in sorted((k for k in buckets if k >= need), reverse=descending):
                # a copy: taking from a node moves it between buckets while we iterate
                yield from list(buckets[k])

    def place(
        self,
        cluster_id: ClusterId,
        member: Resources,
        members: int = 1,
        *,
        spread: bool = False,
        long: bool = True,
    ) -> tuple[Placement, ...] | None:
        """Placements for `members` copies of `member` (GPU model bound) in the cluster,
        or None. One member goes best-fit (or worst-fit when `spread`); a gang goes to the
        nodes with the most room first, so it uses as few nodes as it can. `long`: the job
        may still run when a backfill reservation starts (it is held to the limits)."""
        index = self.clusters.get(cluster_id)
        if index is None:
            return None
        model = next(iter(member.gpus), CPU_ONLY)
        if model and index.free_total.get(model, 0) < member.gpus[model] * members:
            return None
        out: list[Placement] = []
        need = members
        for key in self._nodes_for(index, member, descending=spread or members > 1):
            free = self.free[key]
            k = members_fit(member, free)
            if long and key in self.limits:
                k = min(k, members_fit(member, self.limits[key]))
            if k <= 0:
                continue
            k = min(k, need)
            out.append(Placement(key[1], times(member, k), k))
            need -= k
            if need == 0:
                return tuple(out)
        return None

    def take(
        self, cluster_id: ClusterId, placements: Iterable[Placement], *, long: bool = True
    ) -> None:
        """Subtract an admission; raises DomainError if it does not fit (a policy bug)."""
        index = self.clusters[cluster_id]
        for p in placements:
            key = (cluster_id, p.node_id)
            before = self.free.get(key)
            if before is None or members_fit(p.allocation, before) < 1:
                raise DomainError(f"Admission over capacity on {key}: {p.allocation}.")
            after = before - p.allocation
            self.free[key] = after
            if long and key in self.limits:
                self.limits[key] = self.limits[key] - p.allocation
            for model, count in p.allocation.gpus.items():
                buckets = index.buckets[model]
                old, new = before.gpus.get(model, 0), after.gpus.get(model, 0)
                del buckets[old][key]
                buckets.setdefault(new, {})[key] = None
                index.free_total[model] -= count

    def hold(self, keys: Iterable[NodeKey]) -> None:
        """Take what is free on these nodes for the rest of the cycle (a preempting job
        counts on it together with what its victims will free)."""
        for key in keys:
            free = self.free.get(key)
            if free is not None and (free.cpu_milli or free.memory_mb or free.gpu_count):
                self.take(
                    key[0],
                    (Placement(key[1], Resources(free.cpu_milli, free.memory_mb, free.gpus)),),
                )

    def set_limits(self, limits: Mapping[NodeKey, Resources]) -> None:
        self.limits = dict(limits)


def place_on(
    free: Mapping[NodeKey, Resources], keys: Iterable[NodeKey], member: Resources, members: int
) -> tuple[Placement, ...] | None:
    """Place a gang on an arbitrary view of free capacity (what-if questions: 'after these
    jobs end', 'after these are preempted'), nodes with the most room first."""
    room = sorted(((members_fit(member, free[k]), k) for k in keys), key=lambda t: -t[0])
    out: list[Placement] = []
    need = members
    for fit, key in room:
        if fit <= 0 or need == 0:
            break
        k = min(fit, need)
        out.append(Placement(key[1], times(member, k), k))
        need -= k
    return tuple(out) if need == 0 else None
