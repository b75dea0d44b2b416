"""Simulated pools: a cluster spec's clusters as the scheduler sees them, or the default
pool sized to a trace.

The default pool is made of blocks of 10 nodes of 8 GPUs (4 V100, 3 P100, 2 T4 and 1 K80
nodes: bench/sim.py's mix), one cluster per model. It has as few blocks as hold the
largest job on one cluster (the V100 one) and can run twice the trace's average demand
(GPU-seconds asked for, at the reference GPU's speed, over max(arrival span, longest
job)) at the metering ratings' speeds; at most 2,000 GPUs (bench/sim.py's pool). So a
few jobs get a small pool that they keep busy at times, and policies differ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from suanli.adapters.traces.cluster_spec import ClusterSpec
from suanli.adapters.traces.simulation_input import speeds
from suanli.domain.ids import ClusterId, NodeId, ProviderId, RegionId
from suanli.domain.resources import Resources
from suanli.logic.scheduling.snapshot import ClusterView, NodeView
from suanli.logic.simulation.jobs import SimJob
from suanli.logic.simulation.scenario import ClusterInfo

DEFAULT_MIX = {"V100": 4, "P100": 3, "T4": 2, "K80": 1}
"""Nodes of each model per block of the default pool."""
GPUS_PER_NODE = 8
MAX_DEFAULT_GPUS = 2000
DEFAULT_NODE_CPUS = 64.0
DEFAULT_NODE_MEMORY_GB = 512.0


def pool_from_spec(spec: ClusterSpec) -> tuple[ClusterView, ...]:
    """The spec's clusters as the scheduler sees them, node ids `n000`... per cluster.
    Nodes without cpus or memory_gb get 64 cores and 512 GiB."""
    by_cluster: dict[str, list[NodeView]] = {}
    for node in spec.nodes():
        cluster_id, node_id = node.id.split("/", 1)
        cid = ClusterId(cluster_id)
        cpus = node.cpus if node.cpus is not None else DEFAULT_NODE_CPUS
        memory_mb = node.memory_mb or round(DEFAULT_NODE_MEMORY_GB * 1024)
        gpus = {node.gpu_model: node.gpus} if node.gpu_model and node.gpus else {}
        capacity = Resources(round(cpus * 1000), memory_mb, gpus)
        by_cluster.setdefault(cluster_id, []).append(
            NodeView(cid, NodeId(node_id), capacity, capacity)
        )
    return tuple(
        ClusterView(
            ClusterId(c.id),
            RegionId(c.region),
            ProviderId(c.provider),
            "sim",
            tuple(by_cluster[c.id]),
            gpu_hour_price=c.gpu_hour_price,
        )
        for c in spec.clusters
    )


def default_pool_gpus(jobs: Sequence[SimJob], reference: str) -> int:
    """GPUs of the default pool for these jobs (module doc): whole blocks whose capacity
    at the ratings' speeds (GPUs x rating / the reference's) is at least twice the
    jobs' average demand, that hold the largest job on one cluster, at most 2,000."""
    per_block = sum(DEFAULT_MIX.values()) * GPUS_PER_NODE
    speed = speeds(list(DEFAULT_MIX), reference)
    block_capacity = sum(n * GPUS_PER_NODE * speed[m] for m, n in DEFAULT_MIX.items())
    largest_cluster = max(DEFAULT_MIX.values()) * GPUS_PER_NODE
    gpu_s = sum(j.requested_gpus * j.work for j in jobs)
    arrivals = [j.arrival_s for j in jobs]
    window = max(max(arrivals) - min(arrivals), max(j.work for j in jobs), 1.0)
    blocks = max(
        1,
        math.ceil(2 * gpu_s / window / block_capacity),
        math.ceil(max(j.requested_gpus for j in jobs) / largest_cluster),
    )
    return min(blocks * per_block, MAX_DEFAULT_GPUS)


def default_pool(gpus: int) -> tuple[ClusterView, ...]:
    """One cluster per model of `DEFAULT_MIX`, `gpus` in all, 8-GPU nodes."""
    blocks = max(1, gpus // (sum(DEFAULT_MIX.values()) * GPUS_PER_NODE))
    capacity_cpu = round(DEFAULT_NODE_CPUS * 1000)
    memory_mb = round(DEFAULT_NODE_MEMORY_GB * 1024)
    clusters = []
    for model, per_block in DEFAULT_MIX.items():
        cid = ClusterId(model.lower())
        cap = Resources(capacity_cpu, memory_mb, {model: GPUS_PER_NODE})
        nodes = tuple(
            NodeView(cid, NodeId(f"n{i:03d}"), cap, cap) for i in range(per_block * blocks)
        )
        clusters.append(ClusterView(cid, RegionId("sim"), ProviderId("sim"), "sim", nodes))
    return tuple(clusters)


def cluster_info(clusters: Sequence[ClusterView]) -> tuple[ClusterInfo, ...]:
    out = []
    for c in clusters:
        gpus: dict[str, int] = {}
        for n in c.nodes:
            for model, count in n.capacity.gpus.items():
                gpus[model] = gpus.get(model, 0) + count
        out.append(ClusterInfo(c.id, c.region_id, c.provider_id, len(c.nodes), gpus))
    return tuple(out)


def pool_models(clusters: Sequence[ClusterView]) -> list[str]:
    return sorted({m for c in clusters for n in c.nodes for m in n.capacity.gpus})
