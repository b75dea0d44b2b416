"""Services end to end on a stepped platform (manual clock, loops turned by hand), on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from suanli.adapters.clock import ManualClock
from suanli.domain.errors import Conflict, Forbidden, IllegalTransition, InvalidInput, NotFound
from suanli.domain.ids import JobId
from suanli.domain.jobs import JobStatus
from suanli.domain.pool import ClusterState
from suanli.platform import Platform
from suanli.ports.store import JobFilter
from suanli.services.agents import StateReport
from tests.builders import World, spec, world


@pytest.fixture
def w(platform: Platform, clock: ManualClock) -> World:
    return world(platform, clock)


def test_submit_schedule_claim_run_and_meter(w: World) -> None:
    w.register(cpus=4, gpus={"A100-80GB": 2})
    job = w.plat.jobs.submit(w.user, spec("python3", "-c", "print(42)", gpus={"A100": 2}))
    assert job.status is JobStatus.PENDING
    assert w.plat.scheduler.run_once().admitted == 1
    assignments, cancel, _ = w.plat.agents.claim(w.agent, 10)
    assert [a.job_id for a in assignments] == [job.id] and cancel == []
    assert dict(assignments[0].allocation.gpus) == {"A100-80GB": 2}
    assert w.plat.agents.claim(w.agent, 10)[0] == []  # handed out once
    w.run(job.id, seconds=90)
    detail = w.plat.jobs.get(w.user, job.id)
    assert detail.job.status is JobStatus.SUCCEEDED and detail.job.exit_code == 0
    usage = {r.dimension: r.amount for r in detail.usage}
    assert usage["gpu:A100-80GB"] == 180 and usage["cpu"] == 90
    assert [e.to_status for e in detail.events] == [
        JobStatus.PENDING,
        JobStatus.SCHEDULED,
        JobStatus.RUNNING,
        JobStatus.SUCCEEDED,
    ]
    # repeating the final report changes nothing and is not metered twice
    w.plat.agents.report(w.agent, StateReport(job.id, 1, JobStatus.SUCCEEDED, "e", exit_code=0))
    assert len(w.plat.jobs.get(w.user, job.id).usage) == len(detail.usage)
    totals = w.plat.usage.totals(w.user, by=("tenant",), tenant_id=None, since=None)
    assert {t.dimension: t.amount for t in totals}["gpu:A100-80GB"] == 180


def test_failed_job_keeps_its_exit_code(w: World) -> None:
    w.register()
    job = w.plat.jobs.submit(w.user, spec("false"))
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 10)
    w.run(job.id, seconds=1, exit_code=3)
    got = w.plat.jobs.get(w.user, job.id).job
    assert got.status is JobStatus.FAILED and got.exit_code == 3 and "3" in got.reason


def test_pending_jobs_say_why_they_wait(w: World) -> None:
    w.register(cpus=2)
    big = w.plat.jobs.submit(w.user, spec("x", cpus=64))
    first = w.plat.jobs.submit(w.user, spec("y", cpus=2))
    second = w.plat.jobs.submit(w.user, spec("z", cpus=1))
    w.plat.scheduler.run_once()
    reasons = {j.id: j for j in w.plat.jobs.search(w.user, JobFilter())}
    assert "can ever fit" in reasons[big.id].reason
    assert reasons[first.id].status is JobStatus.SCHEDULED
    assert "Waiting for resources" in reasons[second.id].reason


def test_cancel_before_dispatch_is_immediate_and_after_goes_through_the_agent(
    w: World,
) -> None:
    w.register(cpus=1)
    running = w.plat.jobs.submit(w.user, spec("sleep", "600"))
    queued = w.plat.jobs.submit(w.user, spec("sleep", "600"))
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 10)
    assert w.plat.jobs.cancel(w.user, queued.id).status is JobStatus.CANCELLED
    asked = w.plat.jobs.cancel(w.user, running.id)
    assert asked.status is JobStatus.SCHEDULED and asked.cancel_requested
    assert w.plat.agents.claim(w.agent, 10)[1] == [(running.id, 1)]
    w.plat.agents.report(
        w.agent,
        StateReport(running.id, 1, JobStatus.CANCELLED, "e", w.clock.now(), w.clock.now(), 143),
    )
    assert w.plat.jobs.get(w.user, running.id).job.status is JobStatus.CANCELLED
    assert w.plat.jobs.cancel(w.user, running.id).status is JobStatus.CANCELLED  # no-op
    done = w.plat.jobs.submit(w.user, spec("true"))
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 10)
    w.run(done.id, seconds=1)
    with pytest.raises(Conflict):
        w.plat.jobs.cancel(w.user, done.id)


def test_agent_restart_that_lost_a_job_requeues_it_with_its_place(w: World) -> None:
    w.register(cpus=1)
    job = w.plat.jobs.submit(w.user, spec("sleep", "600"))
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 10)
    w.plat.agents.report(w.agent, StateReport(job.id, 1, JobStatus.RUNNING, "e", w.clock.now()))
    w.clock.advance(20)
    w.plat.agents.heartbeat(w.agent, [(job.id, 1)])  # last sign of life
    w.clock.advance(30)
    # the agent restarts and its engine no longer knows the attempt
    w.register(cpus=1)
    detail = w.plat.jobs.get(w.user, job.id)
    assert detail.job.status is JobStatus.PENDING and detail.job.seq == job.seq
    assert "LOST" in detail.job.reason and "attempt 1 of 3" in detail.job.reason
    assert JobStatus.LOST in [e.to_status for e in detail.events]
    assert detail.attempts[0].status is JobStatus.LOST
    # metered up to the agent's last heartbeat before the restart, not up to when the
    # loss was noticed: the 30 s outage is not billed
    assert {r.dimension: r.seconds for r in detail.usage}["cpu"] == 20
    w.plat.scheduler.run_once()
    assert w.plat.agents.claim(w.agent, 10)[0][0].attempt == 2


def test_jobs_fail_when_attempts_run_out(w: World) -> None:
    w.register(cpus=1)
    job = w.plat.jobs.submit(w.user, spec("x", max_attempts=1))
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 10)
    w.plat.agents.report(
        w.agent, StateReport(job.id, 1, JobStatus.LOST, "e", reason="supervisor died")
    )
    got = w.plat.jobs.get(w.user, job.id).job
    assert got.status is JobStatus.FAILED and "no attempts left" in got.reason


def test_missed_heartbeats_make_the_cluster_unreachable(w: World) -> None:
    w.register(cpus=2)
    claimed = w.plat.jobs.submit(w.user, spec("a"))
    unclaimed_later = w.plat.jobs.submit(w.user, spec("b"))
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 1)
    w.clock.advance(10)
    assert w.plat.dispatcher.run_once().unreachable == 0
    w.clock.advance(10)
    report = w.plat.dispatcher.run_once()
    assert (report.unreachable, report.returned, report.lost) == (1, 1, 1)
    jobs = {j.id: j for j in w.plat.jobs.search(w.user, JobFilter())}
    assert jobs[claimed.id].status is JobStatus.PENDING and jobs[claimed.id].attempt == 1
    assert jobs[unclaimed_later.id].status is JobStatus.PENDING
    (cluster,) = w.plat.pool.clusters(w.operator)
    assert cluster.cluster.state is ClusterState.UNREACHABLE
    # nothing is placed on an unreachable cluster, and the queue is not told "never"
    assert w.plat.scheduler.run_once().admitted == 0
    waiting = w.plat.jobs.get(w.user, claimed.id).job
    assert "never" not in waiting.reason and "1 offline: local" in waiting.reason
    # the agent comes back: it is told to abandon the attempt that was requeued
    instructions = w.plat.agents.heartbeat(w.agent, [(claimed.id, 1)])
    assert instructions.abandon == [(claimed.id, 1)]
    assert w.plat.scheduler.run_once().admitted == 2


def test_invalid_submissions_write_nothing(w: World) -> None:
    with pytest.raises(InvalidInput) as exc:
        w.plat.jobs.submit(w.user, spec("x", regions=("mars",)))
    assert exc.value.field == "regions" and "local" in str(exc.value)
    assert w.plat.jobs.search(w.operator, JobFilter()) == []


def test_roles_and_tenant_isolation(w: World) -> None:
    job = w.plat.jobs.submit(w.user, spec("x"))
    with pytest.raises(Forbidden):
        w.plat.jobs.submit(w.agent, spec("x"))
    with pytest.raises(Forbidden):
        w.plat.agents.claim(w.user, 1)
    other = w.plat.auth.authenticate(w.new_consumer("acme"))
    with pytest.raises(NotFound):
        w.plat.jobs.get(other, job.id)
    assert w.plat.jobs.search(other, JobFilter()) == []
    assert [j.id for j in w.plat.jobs.search(w.operator, JobFilter())] == [job.id]


def test_illegal_reports_are_refused(w: World) -> None:
    w.register()
    job = w.plat.jobs.submit(w.user, spec("x"))
    with pytest.raises(NotFound):
        w.plat.agents.report(w.agent, StateReport(job.id, 1, JobStatus.RUNNING))
    with pytest.raises(InvalidInput):
        w.plat.agents.report(w.agent, StateReport(JobId(job.id), 1, JobStatus.PENDING))
    with pytest.raises(IllegalTransition):
        job.transition(JobStatus.SUCCEEDED, reason="x", at=w.clock.now() + timedelta(1))


def test_group_commit_isolates_errors_per_submission(w: World) -> None:
    good = spec("true")
    bad_region = spec("true", regions=("mars",))
    results = w.plat.jobs.submit_many(
        [(w.user, good), (w.agent, good), (w.user, bad_region), (w.user, good)]
    )
    assert isinstance(results[1], Forbidden) and isinstance(results[2], InvalidInput)
    jobs = [r for r in results if not isinstance(r, Exception)]
    assert len(jobs) == 2 and jobs[0].seq < jobs[1].seq
    stored = w.plat.jobs.search(w.operator, JobFilter())
    assert sorted(j.id for j in stored) == sorted(j.id for j in jobs)


def test_a_claim_the_agent_never_got_is_lost_after_its_next_heartbeat(w: World) -> None:
    w.register(cpus=1)
    job = w.plat.jobs.submit(w.user, spec("x"))
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 10)  # the answer never reaches the agent
    w.clock.advance(2)
    w.plat.agents.heartbeat(w.agent, [])  # claimed after the previous heartbeat: may start
    assert w.plat.jobs.get(w.user, job.id).job.status is JobStatus.SCHEDULED
    w.clock.advance(2)
    w.plat.agents.heartbeat(w.agent, [])
    got = w.plat.jobs.get(w.user, job.id).job
    assert got.status is JobStatus.PENDING and "never reached the engine" in got.reason


def test_reports_need_a_claim_and_times_are_clamped(w: World) -> None:
    w.register(cpus=1)
    job = w.plat.jobs.submit(w.user, spec("x"))
    w.plat.scheduler.run_once()
    with pytest.raises(Conflict):
        w.plat.agents.report(w.agent, StateReport(job.id, 1, JobStatus.RUNNING, "e"))
    w.plat.agents.claim(w.agent, 10)
    w.clock.advance(60)
    year = timedelta(days=365)
    w.plat.agents.report(
        w.agent,
        StateReport(
            job.id, 1, JobStatus.SUCCEEDED, "e", w.clock.now() - year, w.clock.now() + year, 0
        ),
    )
    usage = {r.dimension: r.seconds for r in w.plat.jobs.get(w.user, job.id).usage}
    assert usage["cpu"] == 60  # from the claim to now, not the year either side


def test_withdrawn_attempts_do_not_use_up_attempts(w: World) -> None:
    w.register(cpus=1)
    job = w.plat.jobs.submit(w.user, spec("x", max_attempts=1))
    w.plat.scheduler.run_once()  # placed, never claimed
    w.clock.advance(20)
    assert w.plat.dispatcher.run_once().returned == 1
    w.register(cpus=1)
    w.plat.scheduler.run_once()
    (assignment,), _, _ = w.plat.agents.claim(w.agent, 10)
    assert assignment.attempt == 2  # numbering goes on, but only one attempt ran
    w.run(job.id, seconds=5)
    assert w.plat.jobs.get(w.user, job.id).job.status is JobStatus.SUCCEEDED


def test_long_reasons_never_fail_a_transaction(w: World) -> None:
    w.register(cpus=1)
    job = w.plat.jobs.submit(w.user, spec("x"))
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 10)
    w.plat.agents.report(
        w.agent, StateReport(job.id, 1, JobStatus.FAILED, "e", exit_code=127, reason="x" * 5000)
    )
    got = w.plat.jobs.get(w.user, job.id).job
    assert got.status is JobStatus.FAILED and len(got.reason) == 1000
