"""Usage records: what one attempt consumed, per resource dimension.

A record covers one attempt of one job on one cluster, for one dimension (``cpu``,
``memory``, or ``gpu:MODEL``): `quantity` units held for `seconds` seconds, so
`amount = quantity * seconds` (core-seconds, MiB-seconds, device-seconds). The metering
standard (docs/metering.md) converts amounts into standard compute units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from suanli.domain.ids import ClusterId, JobId, ProviderId, RegionId, TenantId

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
    dimension: str
    quantity: float
    started_at: datetime
    ended_at: datetime
    seconds: int

    @property
    def amount(self) -> float:
        return self.quantity * self.seconds
