"""Usage records: what one attempt consumed, per resource dimension.

A record covers one attempt of one job on one node, for one dimension (``cpu``,
``memory``, or ``gpu:MODEL``) and at most one UTC day: `quantity` units held for
`milliseconds` ms, so `amount = quantity * milliseconds / 1000` (core-, MiB- or
device-seconds). `rating_pflops` is the rating of one unit (core or device) in the job's
workload class, and `standard_units = quantity * milliseconds * rating_pflops / 3,600,000`
in standard compute-hours (SCH, PFLOPS-hours); both are None for memory and for hardware
that has no rating (docs/metering.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId
from suanli.domain.standard import Sector, WorkloadClass

CPU = "cpu"
MEMORY = "memory"
GPU_PREFIX = "gpu:"


@dataclass(frozen=True, slots=True)
class UsageRecord:
    job_id: JobId
    attempt: int
    tenant_id: TenantId
    provider_id: ProviderId
    region_id: RegionId
    cluster_id: ClusterId
    node_id: NodeId
    sector: Sector
    workload_class: WorkloadClass
    dimension: str
    quantity: float
    started_at: datetime
    ended_at: datetime
    milliseconds: int
    rating_pflops: float | None = None
    standard_units: float | None = None

    @property
    def seconds(self) -> float:
        return self.milliseconds / 1000

    @property
    def amount(self) -> float:
        """Quantity x seconds (unit-seconds), from the milliseconds."""
        return self.quantity * self.milliseconds / 1000
