"""The scheduler service on the "suanli" policy, through the real store (SQLite and
PostgreSQL): priority preemption carried out by the agent, quotas set by the operator,
gang placements persisted per node, and decayed usage feeding fair share."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from suanli.adapters.clock import ManualClock
from suanli.domain.ids import TenantId
from suanli.domain.jobs import JobSpec, JobStatus, PriorityClass
from suanli.domain.resources import Resources
from suanli.platform import Platform
from suanli.services.agents import NodeReport, StateReport
from suanli.services.bootstrap import DEFAULT_TENANT
from suanli.services.scheduler import decayed_units
from tests.builders import World, world


@pytest.fixture
def w(platform: Platform, clock: ManualClock) -> World:
    return world(platform, clock)


def gpu_spec(n: int, *, cls: PriorityClass = PriorityClass.STANDARD, gang: int = 1) -> JobSpec:
    return JobSpec.create(
        command=["train"],
        resources=Resources.request(cpus=1, memory_mb=1024, gpus={"H100": n}),
        priority_class=cls,
        gang_size=gang,
    )


def register(w: World, nodes: int = 1) -> None:
    w.plat.agents.register(
        w.agent,
        [NodeReport(f"node-{i}", Resources(16_000, 65_536, {"H100": 8})) for i in range(nodes)],
        agent_version="test",
        known=[],
    )


def test_a_guaranteed_job_preempts_a_preemptible_one_through_the_agent(w: World) -> None:
    register(w)
    spot = w.plat.jobs.submit(w.user, gpu_spec(8, cls=PriorityClass.PREEMPTIBLE))
    assert w.plat.scheduler.run_once().admitted == 1
    (assignment,) = w.plat.agents.claim(w.agent, 10).assignments
    started = w.clock.now()
    w.plat.agents.report(
        w.agent, StateReport(spot.id, assignment.attempt, JobStatus.RUNNING, "e", started)
    )
    w.clock.advance(60)
    vip = w.plat.jobs.submit(w.user, gpu_spec(8, cls=PriorityClass.GUARANTEED))
    report = w.plat.scheduler.run_once()
    assert (report.admitted, report.preempted) == (0, 1)
    assert "Preempting 1" in w.plat.jobs.get(w.user, vip.id).job.reason
    victim = w.plat.jobs.get(w.user, spot.id).job
    assert victim.preempt_requested and vip.id in victim.reason
    # the next cycle picks no new victim while the first one stops
    assert w.plat.scheduler.run_once().preempted == 0
    assert "Waiting for 1 preempted" in w.plat.jobs.get(w.user, vip.id).job.reason
    # the agent is told, stops it (SIGTERM, grace) and reports; the victim is requeued
    assert w.plat.agents.heartbeat(w.agent, [(spot.id, 1)]).preempt == [(spot.id, 1)]
    w.clock.advance(20)
    w.plat.agents.report(
        w.agent,
        StateReport(spot.id, 1, JobStatus.CANCELLED, "e", started, w.clock.now(), -15),
    )
    after = w.plat.jobs.get(w.user, spot.id).job
    assert after.status is JobStatus.PENDING and after.seq == spot.seq
    assert w.plat.scheduler.run_once().admitted == 1
    assert w.plat.jobs.get(w.user, vip.id).job.status is JobStatus.SCHEDULED
    assert w.plat.jobs.get(w.user, spot.id).job.status is JobStatus.PENDING


def test_operator_quota_holds_a_tenant_to_its_nominal(w: World) -> None:
    register(w)
    w.plat.tenancy.set_quota(w.operator, DEFAULT_TENANT, "gpu:H100", nominal=2)
    jobs = [w.plat.jobs.submit(w.user, gpu_spec(1)) for _ in range(3)]
    assert w.plat.scheduler.run_once().admitted == 2
    third = w.plat.jobs.get(w.user, jobs[2].id).job
    assert third.status is JobStatus.PENDING
    assert "Over quota" in third.reason and "2 x H100" in third.reason
    # raising the quota takes effect once the scheduler re-reads its settings
    w.plat.tenancy.set_quota(w.operator, DEFAULT_TENANT, "gpu:H100", nominal=3)
    w.plat.scheduler.refresh_settings()
    assert w.plat.scheduler.run_once().admitted == 1


def test_a_gang_is_placed_on_several_nodes_and_they_are_held(w: World) -> None:
    register(w, nodes=2)
    gang = w.plat.jobs.submit(w.user, gpu_spec(8, gang=2))
    other = w.plat.jobs.submit(w.user, gpu_spec(1))
    assert w.plat.scheduler.run_once().admitted == 1
    placed = w.plat.jobs.get(w.user, gang.id)
    assert placed.job.status is JobStatus.SCHEDULED
    assert sorted(p.node_id for p in placed.job.placements) == ["node-0", "node-1"]
    assert sorted(p.node_id for p in placed.attempts[-1].placements) == ["node-0", "node-1"]
    waiting = w.plat.jobs.get(w.user, other.id).job
    assert waiting.status is JobStatus.PENDING and "busy" in waiting.reason


def test_usage_decays_by_half_life_per_day_of_age() -> None:
    today = date(2026, 3, 10)
    half_life = 7 * 86_400.0
    rows = [
        (TenantId("a"), "2026-03-10", 100.0),
        (TenantId("a"), (today - timedelta(days=7)).isoformat(), 100.0),
        (TenantId("b"), "2026-03-09", 10.0),
    ]
    units = decayed_units(rows, today, half_life)
    assert units[TenantId("a")] == pytest.approx(100 * 0.5 ** (0.5 / 7) + 100 * 0.5 ** (7.5 / 7))
    assert units[TenantId("b")] == pytest.approx(10 * 0.5 ** (1.5 / 7))


def test_gang_members_sharing_a_node_are_counted_for_the_engine(w: World) -> None:
    register(w, nodes=1)
    gang = w.plat.jobs.submit(w.user, gpu_spec(4, gang=2))
    assert w.plat.scheduler.run_once().admitted == 1
    (placement,) = w.plat.jobs.get(w.user, gang.id).job.placements
    assert placement.members == 2 and placement.allocation.gpus == {"H100": 8}
    (assignment,) = w.plat.agents.claim(w.agent, 10).assignments
    assert assignment.nodes == ("node-0", "node-0")


def elastic_spec(prefer: int, low: int, high: int) -> JobSpec:
    return JobSpec.create(
        command=["train"],
        resources=Resources.request(cpus=1, memory_mb=1024, gpus={"H100": 1}),
        gang_size=prefer,
        min_gang_size=low,
        max_gang_size=high,
    )


def test_an_elastic_job_runs_with_the_members_it_got_and_shrinks_for_a_waiting_job(
    w: World,
) -> None:
    register(w, nodes=2)
    elastic = w.plat.jobs.submit(w.user, elastic_spec(4, 1, 16))
    assert w.plat.scheduler.run_once().admitted == 1
    # alone, with no scaling measured: it takes every GPU it may use
    placed = w.plat.jobs.get(w.user, elastic.id)
    assert sum(p.members for p in placed.job.placements) == 16
    (assignment,) = w.plat.agents.claim(w.agent, 10).assignments
    assert assignment.gang_size == 16 and len(assignment.nodes) == 16
    w.plat.agents.report(w.agent, StateReport(elastic.id, 1, JobStatus.RUNNING, "e", w.clock.now()))
    # a rigid job arrives and cannot fit: the elastic job is asked to give GPUs back
    w.clock.advance(60)
    rigid = w.plat.jobs.submit(w.user, gpu_spec(8))
    report = w.plat.scheduler.run_once()
    assert (report.admitted, report.preempted) == (0, 1)
    stopping = w.plat.jobs.get(w.user, elastic.id).job
    assert stopping.preempt_requested and "Resizing elastic job from 16 to 4" in stopping.reason
    w.plat.agents.report(
        w.agent,
        StateReport(elastic.id, 1, JobStatus.CANCELLED, "e", w.clock.now(), w.clock.now(), -15),
    )
    # requeued with its age: it comes back at its preferred 4, the rigid job gets 8
    assert w.plat.scheduler.run_once().admitted == 2
    again = w.plat.jobs.get(w.user, elastic.id).job
    assert sum(p.members for p in again.placements) == 4
    assert w.plat.jobs.get(w.user, rigid.id).job.status is JobStatus.SCHEDULED
