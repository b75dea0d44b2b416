"""The resource pool (算力资源池): regions, providers, clusters, nodes.

A provider owns clusters; each cluster sits in one region and is reached through one agent
that runs next to its engine. A node's capacity is what the agent detected; its free
resources are capacity minus the allocations of active jobs (computed, never stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from suanli.domain.calibration import NodeCalibration
from suanli.domain.ids import ClusterId, NodeId, ProviderId, RegionId
from suanli.domain.resources import Resources


class Capability(StrEnum):
    """What a cluster's engine can do, as its agent reports at registration."""

    GANG = "gang"
    """Start a gang's members together (multi-node or multi-member jobs)."""
    GPUS_BY_MODEL = "gpus_by_model"
    PREEMPT_SIGNAL = "preempt_signal"
    LOG_STREAMING = "log_streaming"
    ADOPT = "adopt"
    """Running work survives an agent restart and can be re-adopted."""


class ClusterState(StrEnum):
    """A cluster is REGISTERED until its agent first reports, READY while heartbeats arrive
    in time, UNREACHABLE after a missed heartbeat deadline, DRAINED when the operator takes
    it out of scheduling."""

    REGISTERED = "REGISTERED"
    READY = "READY"
    UNREACHABLE = "UNREACHABLE"
    DRAINED = "DRAINED"

    def schedulable(self) -> bool:
        return self is ClusterState.READY


@dataclass(frozen=True, slots=True)
class Region:
    id: RegionId
    name: str
    latitude: float | None = None
    longitude: float | None = None
    energy_price: float | None = None
    """Electricity price in CNY per kWh, when the operator sets it (green placement)."""
    carbon_intensity: float | None = None
    """Grid carbon intensity in gCO2 per kWh, when the operator sets it."""


@dataclass(frozen=True, slots=True)
class Provider:
    id: ProviderId
    name: str


@dataclass(frozen=True, slots=True)
class Node:
    cluster_id: ClusterId
    id: NodeId
    capacity: Resources
    hostname: str = ""
    calibration: NodeCalibration | None = None


@dataclass(frozen=True, slots=True)
class Cluster:
    id: ClusterId
    provider_id: ProviderId
    region_id: RegionId
    engine: str
    state: ClusterState
    registered_at: datetime
    last_heartbeat_at: datetime | None = None
    agent_version: str = ""
    gpu_hour_price: Decimal | None = None
    """Posted price in CNY per GPU-hour (per CPU core-hour for a CPU-only cluster), up to
    four decimals like every rate (domain/money.py), set by its provider or, once the
    exchange trades it, by the exchange; None: not priced."""
    capabilities: frozenset[Capability] | None = None
    """What its engine can do, as its agent last reported; None: not reported (an agent
    older than the report), and placement then assumes it can do everything."""
