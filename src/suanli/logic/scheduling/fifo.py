"""FIFO + first fit: the v0 policy.

Jobs are tried in submission order. A job goes to the first node (clusters and nodes in
id order) whose free resources fit it. A job that fits the pool when empty but not now
blocks the jobs behind it (strict FIFO, so big jobs are not starved); a job that no
cluster could ever hold does not block, and its reason names the closest miss.
"""

from __future__ import annotations

from collections.abc import Sequence

from suanli.domain.jobs import Job
from suanli.logic.scheduling.decisions import Admit, Decision, Wait
from suanli.logic.scheduling.policy import FreeCapacity, register_policy
from suanli.logic.scheduling.snapshot import ClusterView, NodeView, Snapshot


def eligible_nodes(job: Job, snapshot: Snapshot) -> Sequence[tuple[ClusterView, NodeView]]:
    """Nodes of clusters in the job's allowed regions (all regions if it names none)."""
    if not job.spec.regions:
        return snapshot.nodes()
    regions = set(job.spec.regions)
    return [(c, n) for c, n in snapshot.nodes() if c.region_id in regions]


def never_fits_reason(job: Job, snapshot: Snapshot) -> str | None:
    """If no eligible node could hold the job even when empty, say why; else None."""
    request = job.spec.resources
    candidates = eligible_nodes(job, snapshot)
    if any(request.bind(n.capacity) is not None for _, n in candidates):
        return None
    where = f" in region(s) {', '.join(job.spec.regions)}" if job.spec.regions else ""
    if not candidates:
        return (
            f"No schedulable cluster{where}. To fix: allow more regions, or wait for a "
            "cluster to come online. Hint: `suanli pool`."
        )
    closest = min(candidates, key=lambda cn: len(request.shortfall(cn[1].capacity)))
    missing = "; ".join(request.shortfall(closest[1].capacity))
    return (
        f"No cluster{where} can ever fit this job; closest is {closest[0].id}/"
        f"{closest[1].node_id}, which lacks {missing}. To fix: ask for less, or allow "
        "more regions. Hint: `suanli pool`."
    )


@register_policy("fifo")
class FifoFirstFit:
    name = "fifo"
    append_only = True

    def order(self, snapshot: Snapshot) -> Sequence[Job]:
        return sorted(snapshot.queue, key=lambda j: j.seq)

    def __init__(self) -> None:
        # never_fits_reason depends only on the request, the regions and the snapshot;
        # a queue of many identical jobs asks it once per cycle, not once per job.
        self._never: dict[tuple[object, ...], str | None] = {}
        self._never_for: int | None = None

    def _never_fits(self, job: Job, snapshot: Snapshot) -> str | None:
        if self._never_for != id(snapshot):
            self._never, self._never_for = {}, id(snapshot)
        r = job.spec.resources
        key = (r.cpu_milli, r.memory_mb, tuple(r.gpus.items()), r.gpu_memory_mb, job.spec.regions)
        if key not in self._never:
            self._never[key] = never_fits_reason(job, snapshot)
        return self._never[key]

    def nominate(self, job: Job, snapshot: Snapshot, free: FreeCapacity) -> Decision:
        for cluster, node in eligible_nodes(job, snapshot):
            allocation = job.spec.resources.bind(free[(cluster.id, node.node_id)])
            if allocation is not None:
                return Admit(job.id, cluster.id, node.node_id, allocation)
        never = self._never_fits(job, snapshot)
        if never is not None:
            return Wait(job.id, never, blocking=False)
        return Wait(
            job.id, "Waiting for resources: every node that fits it is busy.", blocking=True
        )
