"""In the live service, as in the simulator: an elastic job grows onto GPUs that fall
idle, and gives them back when others wait; a requeued job's attained service is known
to the policies. The real store (SQLite and PostgreSQL), the scheduler loop, the agent
protocol stepped by hand (claims, reports) and a manual clock."""

from __future__ import annotations

from datetime import datetime

import pytest

from suanli.adapters.clock import ManualClock
from suanli.domain.ids import JobId
from suanli.domain.jobs import Job, JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.platform import Platform
from suanli.services.agents import StateReport
from suanli.services.preemption import request_preemption
from suanli.services.scheduler import QueueCache, read_slow_inputs, take_snapshot
from tests.builders import World, spec, world

HOUR = 3600


@pytest.fixture
def w(platform: Platform, clock: ManualClock) -> World:
    got = world(platform, clock)
    got.register(cpus=32, memory_mb=65536, gpus={"H100": 8})
    return got


class Agent:
    """What the local cluster's agent does at each heartbeat: start what it claimed, stop
    (at a checkpoint, exit 143) what the scheduler asked to preempt."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.started: dict[tuple[JobId, int], datetime] = {}

    def step(self) -> None:
        now = self.w.clock.now()
        claimed = self.w.plat.agents.claim(self.w.agent, 100)
        for a in claimed.assignments:
            self.started[(a.job_id, a.attempt)] = now
            self.w.plat.agents.report(
                self.w.agent, StateReport(a.job_id, a.attempt, JobStatus.RUNNING, "e", now)
            )
        for job_id, attempt in claimed.preempt:
            began = self.started[(job_id, attempt)]
            self.w.plat.agents.report(
                self.w.agent,
                StateReport(job_id, attempt, JobStatus.CANCELLED, "e", began, now, 143),
            )

    def finish(self, job: Job) -> None:
        began = self.started[(job.id, job.attempt)]
        self.w.plat.agents.report(
            self.w.agent,
            StateReport(
                job.id, job.attempt, JobStatus.SUCCEEDED, "e", began, self.w.clock.now(), 0
            ),
        )


def _elastic(low: int, asked: int, high: int, *, hours: int = 10) -> JobSpec:
    return JobSpec.create(
        command=["train"],
        resources=Resources.request(cpus=1, memory_mb=1024, gpus={"H100": 1}),
        gang_size=asked,
        min_gang_size=low,
        max_gang_size=high,
        time_limit_s=hours * HOUR,
    )


def _job(w: World, job_id: JobId) -> Job:
    return w.plat.jobs.get(w.user, job_id).job


def _gpus(job: Job) -> int:
    return job.allocation.gpu_count if job.allocation else 0


def test_an_elastic_job_grows_onto_idle_gpus_and_gives_them_back(w: World) -> None:
    agent = Agent(w)
    blocker = w.plat.jobs.submit(w.user, spec("x", gpus={"H100": 6}, time_limit_s=HOUR))
    elastic = w.plat.jobs.submit(w.user, _elastic(1, 2, 8))
    assert w.plat.scheduler.run_once().admitted == 2
    agent.step()
    assert _gpus(_job(w, elastic.id)) == 2  # what was free

    # the blocker ends: six GPUs sit idle, and nobody waits for them
    w.clock.advance(600)
    agent.finish(_job(w, blocker.id))
    report = w.plat.scheduler.run_once()
    assert report.preempted == 1
    stopping = _job(w, elastic.id)
    assert stopping.preempt_requested and "to 8 x H100" in stopping.reason
    agent.step()  # stops it at a checkpoint; it is requeued
    assert _job(w, elastic.id).status is JobStatus.PENDING
    assert w.plat.scheduler.run_once().admitted == 1
    agent.step()
    grown = _job(w, elastic.id)
    assert (grown.status, _gpus(grown), grown.attempt) == (JobStatus.RUNNING, 8, 2)

    # later another job waits for GPUs: the elastic job shrinks back to what it asked
    w.clock.advance(1800)
    newcomer = w.plat.jobs.submit(w.user, spec("y", gpus={"H100": 4}, time_limit_s=HOUR))
    report = w.plat.scheduler.run_once()
    assert (report.admitted, report.preempted) == (0, 1)
    assert "to 2 members" in _job(w, elastic.id).reason
    agent.step()
    assert w.plat.scheduler.run_once().admitted == 2
    agent.step()
    assert _gpus(_job(w, elastic.id)) == 2
    assert _gpus(_job(w, newcomer.id)) == 4


def test_a_requeued_job_keeps_its_attained_service(w: World) -> None:
    agent = Agent(w)
    job = w.plat.jobs.submit(w.user, spec("x", gpus={"H100": 2}, time_limit_s=HOUR))
    w.plat.scheduler.run_once()
    agent.step()
    w.clock.advance(100)
    with w.plat.store.unit_of_work() as uow:
        current = uow.jobs.get(job.id)
        assert current is not None
        request_preemption(uow, current, reason="test", at=w.clock.now())
        uow.commit()
    agent.step()
    w.clock.advance(50)
    with w.plat.store.unit_of_work(readonly=True) as uow:
        queue = QueueCache(w.clock)
        snap = take_snapshot(uow, w.clock, queue, read_slow_inputs(uow, w.clock.now(), 86400))
    progress = snap.progress[job.id]
    assert progress.attained_gpu_s == pytest.approx(200.0)  # 2 GPUs x 100 s, then waiting
    assert progress.run_s_by_model == {"H100": pytest.approx(100.0)}


def test_an_attempts_cpu_time_is_kept_from_the_final_report(w: World) -> None:
    agent = Agent(w)
    job = w.plat.jobs.submit(w.user, spec("x", cpus=2, time_limit_s=HOUR))
    w.plat.scheduler.run_once()
    agent.step()
    began = agent.started[(job.id, 1)]
    w.clock.advance(30)
    w.plat.agents.report(
        w.agent,
        StateReport(job.id, 1, JobStatus.SUCCEEDED, "e", began, w.clock.now(), 0, "", cpu_s=55.5),
    )
    (attempt,) = w.plat.jobs.get(w.user, job.id).attempts
    assert (attempt.status, attempt.cpu_s) == (JobStatus.SUCCEEDED, 55.5)
