"""A policy keeps placement filter results across cycles; what changes between cycles
(prices, free capacity) must still be seen, and a changed pool must not reuse them."""

from __future__ import annotations

from datetime import UTC, datetime

from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.logic.scheduling.cycle import run_cycle
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.snapshot import ClusterView, NodeView, Snapshot

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def pool(prices: tuple[float, float], gpus: int = 8) -> tuple[ClusterView, ...]:
    views = []
    for i, price in enumerate(prices):
        cid = ClusterId(f"c{i}")
        cap = Resources(32_000, 131_072, {"H100": gpus})
        node = NodeView(cid, NodeId("n0"), cap, cap)
        views.append(ClusterView(cid, RegionId("r"), ProviderId("p"), "local", (node,), price))
    return tuple(views)


def job(i: int, gpus: int = 1) -> Job:
    spec = JobSpec.create(
        command=["x"], resources=Resources.request(cpus=1, memory_mb=1024, gpus={"H100": gpus})
    )
    return Job(JobId(f"j{i}"), TenantId("t"), UserId("u"), spec, JobStatus.PENDING, NOW, seq=i)


def test_prices_changed_between_cycles_are_used_with_memoised_filters() -> None:
    policy = get_policy("suanli")
    first = run_cycle(Snapshot(NOW, pool((10.0, 20.0)), (job(1),)), policy)
    assert [a.cluster_id for a in first.admitted] == ["c0"]
    second = run_cycle(Snapshot(NOW, pool((30.0, 20.0)), (job(2),)), policy)
    assert [a.cluster_id for a in second.admitted] == ["c1"]


def test_a_pool_that_changed_shape_is_filtered_again() -> None:
    policy = get_policy("suanli")
    small = run_cycle(Snapshot(NOW, pool((1.0, 1.0), gpus=4), (job(1, gpus=8),)), policy)
    assert not small.admitted and "can ever fit" in small.waiting[0].reason
    grown = run_cycle(Snapshot(NOW, pool((1.0, 1.0), gpus=8), (job(1, gpus=8),)), policy)
    assert [a.job_id for a in grown.admitted] == ["j1"]
