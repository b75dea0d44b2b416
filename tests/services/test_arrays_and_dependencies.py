"""Job arrays and dependencies through the services (stepped platform, SQLite and
PostgreSQL): throttles, waiting with the reason named, cancellation when a dependency
can never be met, and refusal of dependencies on jobs that are not there."""

from __future__ import annotations

from dataclasses import replace

import pytest

from suanli.adapters.clock import ManualClock
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import JobId
from suanli.domain.job_links import parse_array, parse_dependencies
from suanli.domain.jobs import Job, JobStatus
from suanli.platform import Platform
from suanli.ports.store import JobFilter
from tests.builders import World, spec, world


@pytest.fixture
def w(platform: Platform, clock: ManualClock) -> World:
    return world(platform, clock)


def status(w: World, job_id: JobId) -> Job:
    return w.plat.jobs.get(w.user, job_id).job


def cycle(w: World) -> None:
    """One scheduling cycle, and the agent takes what it placed."""
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 100)


def test_an_array_runs_at_most_its_throttle_at_once_and_knows_its_index(w: World) -> None:
    w.register(cpus=16)
    array_id, tasks = w.plat.jobs.submit_array(w.user, spec("true"), parse_array("0-9:2%2"))
    assert array_id.startswith("a-") and [t.spec.array.index for t in tasks if t.spec.array] == [
        0,
        2,
        4,
        6,
        8,
    ]
    assert tasks[1].spec.env["SLURM_ARRAY_TASK_ID"] == "2"
    assert tasks[1].spec.env["SLURM_ARRAY_JOB_ID"] == array_id
    assert tasks[1].spec.env["SLURM_ARRAY_TASK_COUNT"] == "5"
    cycle(w)
    placed = [t for t in tasks if status(w, t.id).status is JobStatus.SCHEDULED]
    assert len(placed) == 2  # 16 CPUs free, but %2
    held = status(w, tasks[4].id)
    assert held.status is JobStatus.PENDING and "throttle" in held.reason and "%2" in held.reason
    w.run(placed[0].id, seconds=5)
    cycle(w)
    now = [t for t in tasks if status(w, t.id).status is JobStatus.SCHEDULED]
    assert len(now) == 2
    listed = w.plat.jobs.search(w.user, JobFilter(array_id=array_id))
    assert {j.id for j in listed} == {t.id for t in tasks}


def test_a_reduce_job_waits_for_every_task_of_an_array(w: World) -> None:
    w.register(cpus=8)
    array_id, tasks = w.plat.jobs.submit_array(w.user, spec("true"), parse_array("1-3"))
    reduce = w.plat.jobs.submit(
        w.user, replace(spec("true"), dependencies=parse_dependencies(f"afterok:{array_id}"))
    )
    cycle(w)
    waiting = status(w, reduce.id)
    assert waiting.status is JobStatus.PENDING
    assert f"afterok:{array_id}, 3 of 3 tasks to end" in waiting.reason
    for task in tasks:
        w.run(task.id, seconds=1)
    cycle(w)
    assert status(w, reduce.id).status is JobStatus.SCHEDULED


def test_a_dependency_that_can_never_be_met_cancels_the_job_with_the_reason(w: World) -> None:
    w.register(cpus=8)
    first = w.plat.jobs.submit(w.user, spec("false"))
    on_ok = w.plat.jobs.submit(
        w.user, replace(spec("true"), dependencies=parse_dependencies(f"afterok:{first.id}"))
    )
    on_fail = w.plat.jobs.submit(
        w.user, replace(spec("true"), dependencies=parse_dependencies(f"afternotok:{first.id}"))
    )
    on_any = w.plat.jobs.submit(
        w.user, replace(spec("true"), dependencies=parse_dependencies(f"afterany:{first.id}"))
    )
    cycle(w)
    assert "Waiting for its dependencies: afterok:" in status(w, on_ok.id).reason
    w.run(first.id, seconds=1, exit_code=1)
    cycle(w)
    cancelled = status(w, on_ok.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert "can never be met" in cancelled.reason and first.id in cancelled.reason
    assert status(w, on_fail.id).status is JobStatus.SCHEDULED
    assert status(w, on_any.id).status is JobStatus.SCHEDULED


def test_a_dependency_on_a_job_that_is_not_there_is_refused_and_nothing_is_queued(
    w: World,
) -> None:
    w.register()
    before = len(w.plat.jobs.search(w.user, JobFilter()))
    with pytest.raises(InvalidInput, match="No job or array j-nothere to depend on"):
        w.plat.jobs.submit(
            w.user, replace(spec("true"), dependencies=parse_dependencies("afterok:j-nothere"))
        )
    with pytest.raises(InvalidInput, match="to depend on"):
        w.plat.jobs.submit_array(
            w.user,
            replace(spec("true"), dependencies=parse_dependencies("afterany:a-nothere")),
            parse_array("0-3"),
        )
    assert len(w.plat.jobs.search(w.user, JobFilter())) == before
