"""What a policy may decide for a job in one cycle. Only the cycle applies decisions."""

from __future__ import annotations

from dataclasses import dataclass

from suanli.domain.ids import ClusterId, JobId, NodeId
from suanli.domain.resources import Resources


@dataclass(frozen=True, slots=True)
class Admit:
    """Place the job on this node with this concrete allocation."""

    job_id: JobId
    cluster_id: ClusterId
    node_id: NodeId
    allocation: Resources


@dataclass(frozen=True, slots=True)
class Wait:
    """Leave the job pending. `reason` is shown to the user ('why is my job waiting?').
    `blocking` jobs hold back the jobs ordered after them (strict queue order)."""

    job_id: JobId
    reason: str
    blocking: bool = False


Decision = Admit | Wait
