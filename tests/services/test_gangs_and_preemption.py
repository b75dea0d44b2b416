"""Gangs at the agent protocol and in metering; the preemption path (request, agent stop,
requeue with the job's age); service replicas. On SQLite and PostgreSQL.

Jobs are placed by hand here (as the scheduler's apply step does), so these tests depend
on no placement policy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from suanli.adapters.clock import ManualClock
from suanli.domain.calibration import NodeCalibration
from suanli.domain.errors import Forbidden, InvalidInput
from suanli.domain.ids import JobId, NodeId
from suanli.domain.jobs import Attempt, Job, JobSpec, JobStatus, Placement
from suanli.domain.resources import ZERO, Resources
from suanli.platform import Platform
from suanli.ports.store import JobFilter
from suanli.services.agents import NodeReport, StateReport, member_nodes
from suanli.services.lifecycle import move
from suanli.services.preemption import request_preemption
from tests.builders import World, spec, world


@pytest.fixture
def w(platform: Platform, clock: ManualClock) -> World:
    return world(platform, clock)


def calibration(w: World, fp32_gflops: float) -> NodeCalibration:
    return NodeCalibration(w.clock.now(), 8, fp32_gflops, fp32_gflops / 2, 50.0)


def register_two_nodes(w: World) -> None:
    """node-a: 0.1 TFLOPS per core; node-b: 0.2 (FP32, 8 cores each)."""
    w.plat.agents.register(
        w.agent,
        [
            NodeReport("node-a", Resources(8000, 16384), calibration(w, 800.0)),
            NodeReport("node-b", Resources(8000, 16384), calibration(w, 1600.0)),
        ],
        agent_version="t",
        known=[],
    )


def place(w: World, job_id: JobId, placements: tuple[Placement, ...] | None = None) -> Job:
    """What the scheduler's apply step does: a SCHEDULED attempt on the local cluster, on
    `placements` (default: the job's request on node-a)."""
    with w.plat.store.unit_of_work() as uow:
        job = uow.jobs.get_for_update(job_id)
        assert job is not None and job.status is JobStatus.PENDING
        cluster = uow.pool.list_clusters()[0]
        if placements is None:
            placements = (Placement(NodeId("node-a"), job.spec.resources),)
        total = ZERO
        for p in placements:
            total = total + p.allocation
        gang = placements if len(placements) > 1 else ()
        number = job.attempt + 1
        now = w.clock.now()
        uow.jobs.add_attempt(
            Attempt(
                job.id,
                number,
                cluster.id,
                placements[0].node_id,
                total,
                cluster.region_id,
                JobStatus.SCHEDULED,
                now,
                placements=gang,
            )
        )
        job = move(
            uow,
            job,
            JobStatus.SCHEDULED,
            reason="placed by the test",
            at=now,
            attempt=number,
            cluster_id=cluster.id,
            node_id=placements[0].node_id,
            allocation=total,
            placements=gang,
        )
        uow.commit()
    return job


def preempt(w: World, job_id: JobId, reason: str = "for job j-vip (guaranteed)") -> Job:
    with w.plat.store.unit_of_work() as uow:
        job = uow.jobs.get(job_id)
        assert job is not None
        job = request_preemption(uow, job, reason=reason, at=w.clock.now())
        uow.commit()
    return job


def start(w: World, job_id: JobId) -> int:
    """Claim the job's attempt and report it RUNNING; returns the attempt number."""
    (assignment,) = w.plat.agents.claim(w.agent, 10).assignments
    assert assignment.job_id == job_id
    w.plat.agents.report(
        w.agent,
        StateReport(job_id, assignment.attempt, JobStatus.RUNNING, "e", w.clock.now()),
    )
    return assignment.attempt


# --- gangs ------------------------------------------------------------------------


def test_a_gang_attempt_carries_its_placements_to_the_agent_and_is_metered_whole(
    w: World,
) -> None:
    register_two_nodes(w)
    gang = JobSpec.create(
        command=["mpirun", "train"], resources=Resources.request(cpus=2), gang_size=3
    )
    job = w.plat.jobs.submit(w.user, gang)
    placements = (
        Placement(NodeId("node-a"), Resources(4000, 2048)),  # two members share node-a
        Placement(NodeId("node-b"), Resources(2000, 1024)),
    )
    placed = place(w, job.id, placements)
    assert placed.placed() == placements
    (assignment,) = w.plat.agents.claim(w.agent, 10).assignments
    assert assignment.placements == placements
    assert assignment.nodes == ("node-a", "node-a", "node-b") and assignment.gang_size == 3
    w.run(job.id, seconds=100)
    detail = w.plat.jobs.get(w.user, job.id)
    assert detail.job.status is JobStatus.SUCCEEDED
    assert detail.attempts[0].placements == placements
    cpu = next(r for r in detail.usage if r.dimension == "cpu")
    memory = next(r for r in detail.usage if r.dimension == "memory")
    assert (cpu.quantity, cpu.seconds, memory.quantity) == (6, 100, 3072)
    # each node's cores at its own rating: 4 x 0.1 and 2 x 0.2 TFLOPS
    assert cpu.standard_units == pytest.approx(100 * (4 * 1e-4 + 2 * 2e-4) / 3600)
    assert cpu.rating_pflops == pytest.approx((4 * 1e-4 + 2 * 2e-4) / 6)


def test_member_nodes_fall_back_to_one_member_per_placement() -> None:
    gang = JobSpec.create(command=["x"], resources=Resources.request(cpus=1), gang_size=2)
    odd = (Placement(NodeId("a"), Resources(3000, 1)), Placement(NodeId("b"), Resources(1000, 1)))
    assert member_nodes(gang, odd) == ("a", "b")
    single = JobSpec.create(command=["x"], resources=Resources.request(cpus=1))
    assert member_nodes(single, (Placement(NodeId("a"), Resources(1000, 1)),)) == ("a",)


# --- preemption -------------------------------------------------------------------


def test_a_preempted_running_job_is_requeued_with_its_age_and_keeps_its_attempts(
    w: World,
) -> None:
    w.register(cpus=4)
    job = w.plat.jobs.submit(w.user, spec("train", max_attempts=1))
    place(w, job.id)
    start(w, job.id)
    w.clock.advance(40)
    asked = preempt(w, job.id)
    assert asked.status is JobStatus.RUNNING and asked.preempt_requested
    assert "j-vip" in asked.reason
    # the agent hears of it at its next claim and heartbeat
    claimed = w.plat.agents.claim(w.agent, 10)
    assert claimed.preempt == [(job.id, 1)] and claimed.cancel == []
    assert w.plat.agents.heartbeat(w.agent, [(job.id, 1)]).preempt == [(job.id, 1)]
    assert preempt(w, job.id).preempt_requested  # asking twice changes nothing
    # the job checkpoints on SIGTERM and the engine reports it stopped (any exit code)
    w.clock.advance(5)
    started = w.clock.now() - timedelta(seconds=45)
    w.plat.agents.report(
        w.agent,
        StateReport(job.id, 1, JobStatus.CANCELLED, "e", started, w.clock.now(), 0),
    )
    detail = w.plat.jobs.get(w.user, job.id)
    got = detail.job
    assert got.status is JobStatus.PENDING and got.seq == job.seq
    assert not got.preempt_requested and got.cluster_id is None and got.placements == ()
    assert "preempt" in got.reason.lower() and "j-vip" in got.reason
    assert [e.to_status for e in detail.events][-3:] == [
        JobStatus.RUNNING,
        JobStatus.PREEMPTED,
        JobStatus.PENDING,
    ]
    (attempt,) = detail.attempts
    assert attempt.status is JobStatus.PREEMPTED and attempt.exit_code == 0
    assert "j-vip" in attempt.reason
    # metered once, for the time it ran
    assert [(r.dimension, r.seconds) for r in detail.usage if r.dimension == "cpu"] == [("cpu", 45)]
    assert w.plat.agents.claim(w.agent, 10).preempt == []
    # a repeated final report changes nothing and meters nothing more
    w.plat.agents.report(
        w.agent, StateReport(job.id, 1, JobStatus.CANCELLED, "e", started, w.clock.now(), 0)
    )
    assert len(w.plat.jobs.get(w.user, job.id).usage) == len(detail.usage)
    # the preemption did not use up its only attempt: it runs again and succeeds
    place(w, job.id)
    assert start(w, job.id) == 2
    w.run(job.id, seconds=10)
    assert w.plat.jobs.get(w.user, job.id).job.status is JobStatus.SUCCEEDED


def test_a_preempted_job_that_exits_zero_is_still_requeued(w: World) -> None:
    w.register(cpus=4)
    job = w.plat.jobs.submit(w.user, spec("serve"))
    place(w, job.id)
    start(w, job.id)
    preempt(w, job.id)
    w.plat.agents.report(
        w.agent,
        StateReport(job.id, 1, JobStatus.SUCCEEDED, "e", w.clock.now(), w.clock.now(), 0),
    )
    assert w.plat.jobs.get(w.user, job.id).job.status is JobStatus.PENDING


def test_preempting_an_unclaimed_attempt_withdraws_it(w: World) -> None:
    w.register(cpus=4)
    job = w.plat.jobs.submit(w.user, spec("x", max_attempts=1))
    place(w, job.id)
    got = preempt(w, job.id)
    assert got.status is JobStatus.PENDING and got.seq == job.seq
    assert not got.preempt_requested and got.cluster_id is None
    assert "j-vip" in got.reason
    detail = w.plat.jobs.get(w.user, job.id)
    assert detail.attempts[0].status is JobStatus.LOST and detail.attempts[0].dispatched_at is None
    assert detail.usage == []
    claimed = w.plat.agents.claim(w.agent, 10)
    assert claimed.assignments == [] and claimed.preempt == []
    place(w, job.id)
    assert start(w, job.id) == 2


def test_a_claimed_attempt_not_yet_running_is_stopped_through_the_agent(w: World) -> None:
    w.register(cpus=4)
    job = w.plat.jobs.submit(w.user, spec("x"))
    place(w, job.id)
    w.plat.agents.claim(w.agent, 10)
    got = preempt(w, job.id)
    assert got.status is JobStatus.SCHEDULED and got.preempt_requested
    assert w.plat.agents.claim(w.agent, 10).preempt == [(job.id, 1)]
    w.plat.agents.report(w.agent, StateReport(job.id, 1, JobStatus.RUNNING, "e", w.clock.now()))
    assert "j-vip" in w.plat.jobs.get(w.user, job.id).job.reason  # still says why
    w.plat.agents.report(
        w.agent,
        StateReport(job.id, 1, JobStatus.CANCELLED, "e", w.clock.now(), w.clock.now(), 143),
    )
    assert w.plat.jobs.get(w.user, job.id).job.status is JobStatus.PENDING


def test_a_cancel_wins_over_a_preemption(w: World) -> None:
    w.register(cpus=4)
    job = w.plat.jobs.submit(w.user, spec("x"))
    place(w, job.id)
    start(w, job.id)
    preempt(w, job.id)
    cancelled = w.plat.jobs.cancel(w.user, job.id)
    assert cancelled.cancel_requested
    claimed = w.plat.agents.claim(w.agent, 10)
    assert claimed.cancel == [(job.id, 1)] and claimed.preempt == []
    w.plat.agents.report(
        w.agent,
        StateReport(job.id, 1, JobStatus.CANCELLED, "e", w.clock.now(), w.clock.now(), 143),
    )
    got = w.plat.jobs.get(w.user, job.id).job
    assert got.status is JobStatus.CANCELLED and not got.preempt_requested


def test_preempting_a_job_that_holds_nothing_changes_nothing(w: World) -> None:
    w.register(cpus=4)
    job = w.plat.jobs.submit(w.user, spec("x"))
    assert preempt(w, job.id) == w.plat.jobs.get(w.user, job.id).job  # PENDING
    place(w, job.id)
    start(w, job.id)
    w.plat.agents.report(
        w.agent,
        StateReport(job.id, 1, JobStatus.SUCCEEDED, "e", w.clock.now(), w.clock.now(), 0),
    )
    done = preempt(w, job.id)
    assert done.status is JobStatus.SUCCEEDED and not done.preempt_requested


def test_a_lost_attempt_of_a_preempted_job_is_requeued_and_clears_the_request(w: World) -> None:
    w.register(cpus=4)
    job = w.plat.jobs.submit(w.user, spec("x"))
    place(w, job.id)
    start(w, job.id)
    preempt(w, job.id)
    w.plat.agents.report(w.agent, StateReport(job.id, 1, JobStatus.LOST, "e", reason="gone"))
    got = w.plat.jobs.get(w.user, job.id).job
    assert got.status is JobStatus.PENDING and not got.preempt_requested


# --- services ---------------------------------------------------------------------


def test_a_service_queues_its_replicas_together(w: World) -> None:
    base = JobSpec.create(
        command=["serve"],
        resources=Resources.request(cpus=1),
        service="chat",
        client_region="local",
        latency_slo_ms=20,
    )
    jobs = w.plat.jobs.submit_service(w.user, base, 3)
    assert [j.spec.name for j in jobs] == ["chat-0", "chat-1", "chat-2"]
    assert {j.spec.service for j in jobs} == {"chat"}
    assert jobs[0].seq < jobs[1].seq < jobs[2].seq
    stored = w.plat.jobs.search(w.user, JobFilter())
    assert sorted(j.id for j in stored) == sorted(j.id for j in jobs)
    for bad, replicas, field in [
        (base, 0, "replicas"),
        (JobSpec.create(command=["x"], resources=Resources.request()), 2, "service"),
        (JobSpec.create(command=["x"], resources=Resources.request(), service="a b"), 2, "service"),
        (
            JobSpec.create(command=["x"], resources=Resources.request(), service="s", name="n"),
            2,
            "name",
        ),
    ]:
        with pytest.raises(InvalidInput) as exc:
            w.plat.jobs.submit_service(w.user, bad, replicas)
        assert exc.value.field == field
    with pytest.raises(Forbidden):
        w.plat.jobs.submit_service(w.agent, base, 2)
    assert len(w.plat.jobs.search(w.user, JobFilter())) == 3  # nothing more was written
