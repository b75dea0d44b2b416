"""Metering a gang's attempt: one record per dimension, summed over its placements, each
node rated on its own hardware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId
from suanli.domain.jobs import Attempt, JobStatus, Placement
from suanli.domain.resources import Resources
from suanli.domain.standard import Sector, WorkloadClass
from suanli.logic.metering.attempts import MeteringContext, meter_attempt

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def gang_attempt(placements: tuple[Placement, ...]) -> Attempt:
    total = Resources()
    for p in placements:
        total = total + p.allocation
    return Attempt(
        JobId("j"),
        1,
        ClusterId("c"),
        placements[0].node_id,
        total,
        RegionId("r"),
        JobStatus.SUCCEEDED,
        T0,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=60),
        placements=placements,
    )


def test_a_gang_is_metered_over_all_its_nodes_at_their_own_ratings() -> None:
    placements = (
        Placement(NodeId("a"), Resources(2000, 100, {"H100": 2})),
        Placement(NodeId("b"), Resources(1000, 50, {"H100": 1})),
        Placement(NodeId("c"), Resources(1000, 50, {"H100": 1})),
    )
    ctx = MeteringContext(
        TenantId("t"),
        ProviderId("p"),
        Sector.OTHER,
        WorkloadClass.AI,
        ratings={"cpu": None, "gpu:H100": 0.5},
        node_ratings={
            NodeId("a"): {"cpu": 0.001, "gpu:H100": 0.5},
            NodeId("b"): {"cpu": None, "gpu:H100": 0.8},
            NodeId("c"): {"cpu": None, "gpu:H100": None},
        },
    )
    records = {r.dimension: r for r in meter_attempt(gang_attempt(placements), ctx)}
    assert list(records) == ["cpu", "memory", "gpu:H100"]
    gpu = records["gpu:H100"]
    assert (gpu.quantity, gpu.seconds, gpu.node_id) == (4, 60, "a")
    assert gpu.standard_units == pytest.approx(60 * (2 * 0.5 + 1 * 0.8) / 3600)
    assert gpu.rating_pflops == pytest.approx((2 * 0.5 + 0.8) / 4)
    cpu = records["cpu"]
    assert cpu.quantity == 4 and cpu.standard_units == pytest.approx(60 * 2 * 0.001 / 3600)
    assert records["memory"].quantity == 200 and records["memory"].rating_pflops is None


def test_a_gang_on_unrated_hardware_stays_unrated() -> None:
    placements = (
        Placement(NodeId("a"), Resources(1000, 1)),
        Placement(NodeId("b"), Resources(1000, 1)),
    )
    ctx = MeteringContext(
        TenantId("t"), ProviderId("p"), Sector.OTHER, WorkloadClass.GENERAL, ratings={}
    )
    cpu = next(r for r in meter_attempt(gang_attempt(placements), ctx) if r.dimension == "cpu")
    assert cpu.quantity == 2 and cpu.rating_pflops is None and cpu.standard_units is None
