"""What a policy may decide for a job in one cycle. Only the cycle applies decisions."""

from __future__ import annotations

from dataclasses import dataclass

from suanli.domain.ids import ClusterId, JobId, NodeId
from suanli.domain.jobs import Placement
from suanli.domain.resources import ZERO, Resources


@dataclass(frozen=True, slots=True)
class Admit:
    """Place the job in this cluster: one placement per gang member's node (members that
    share a node share one placement, whose allocation is their sum)."""

    job_id: JobId
    cluster_id: ClusterId
    placements: tuple[Placement, ...]
    borrowing: bool = False
    """True when the admission uses capacity borrowed from the tenant's cohort."""

    @property
    def node_id(self) -> NodeId:
        """The first node (where an engine runs the job's batch script)."""
        return self.placements[0].node_id

    @property
    def allocation(self) -> Resources:
        """Everything the job holds, summed over its placements."""
        total = ZERO
        for p in self.placements:
            total = total + p.allocation
        return total


@dataclass(frozen=True, slots=True)
class Wait:
    """Leave the job pending. `reason` is shown to the user ('why is my job waiting?').
    `blocking` jobs hold back the jobs ordered after them (strict queue order)."""

    job_id: JobId
    reason: str
    blocking: bool = False


@dataclass(frozen=True, slots=True)
class Preempt:
    """The job waits while `victims` are stopped (SIGTERM, `grace_s`, then kill) to make
    room for it on `cluster_id`; the victims are requeued with their age."""

    job_id: JobId
    cluster_id: ClusterId
    victims: tuple[JobId, ...]
    reason: str
    grace_s: float


Decision = Admit | Wait | Preempt
