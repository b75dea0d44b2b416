"""Elastic jobs: the size chosen at admission, growing onto idle GPUs and giving them
back when others wait (logic/scheduling/elastic.py), through the simulator with
hand-computed times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from suanli.domain.errors import InvalidInput
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.snapshot import ClusterView, NodeView
from suanli.logic.simulation.engine import JobOutcome, SimSettings, Simulator
from suanli.logic.simulation.jobs import SimJob

START = datetime(2026, 1, 1, tzinfo=UTC)
LINEAR = {"T4": {1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0}}


def one_node(gpus: int = 4, model: str = "T4", name: str = "c") -> tuple[ClusterView, ...]:
    cid = ClusterId(name)
    cap = Resources(64_000, 262_144, {model: gpus})
    node = NodeView(cid, NodeId("n0"), cap, cap)
    return (ClusterView(cid, RegionId("r"), ProviderId("p"), "sim", (node,)),)


def job(
    i: int,
    arrival: float,
    work: float,
    gang: int,
    span: tuple[int, int] | None = None,
    scaling: dict[str, dict[int, float]] | None = None,
) -> SimJob:
    spec = JobSpec.create(
        command=["sim"],
        resources=Resources.request(cpus=1, memory_mb=1024, gpus={"any": 1}),
        gang_size=gang,
        min_gang_size=span[0] if span else None,
        max_gang_size=span[1] if span else None,
    )
    j = Job(JobId(f"j{i}"), TenantId("t"), UserId("u"), spec, JobStatus.PENDING, START, seq=i)
    return SimJob(j, arrival, work, {}, scaling or {}, restart_s=20.0)


def run(jobs: list[SimJob]) -> dict[str, JobOutcome]:
    settings = SimSettings(min_gap_s=0.0, grace_s=30.0)
    result = Simulator(one_node(), jobs, get_policy("suanli"), start=START, settings=settings)
    return {o.job_id: o for o in result.run().outcomes}


def test_an_elastic_job_alone_takes_every_gpu_that_speeds_it_up() -> None:
    out = run([job(1, 0, 800, gang=2, span=(1, 4), scaling=LINEAR)])
    assert out["j1"].finish_s == pytest.approx(200.0)  # 4 GPUs at rate 4


def test_it_stops_growing_where_scaling_stops_paying() -> None:
    # 4 GPUs (rate 1.2) are slower than 2 (1.8); the joint plan (goodput_plan.py, the
    # job's speed is known) offers the sizes a node packs, 1, 2 and 4: two GPUs it is
    poor = {"T4": {1: 1.0, 2: 1.8, 3: 2.4, 4: 1.2}}
    out = run([job(1, 0, 240, gang=2, span=(1, 4), scaling=poor)])
    assert out["j1"].finish_s == pytest.approx(240.0 / 1.8)


def test_with_others_waiting_it_starts_smaller_now_rather_than_wait() -> None:
    # j1 (rigid, 3 GPUs) leaves one; j2 prefers 2 but accepts 1 and starts at once
    out = run([job(1, 0, 1000, gang=3), job(2, 0, 100, gang=2, span=(1, 2), scaling=LINEAR)])
    assert out["j2"].first_start_s == 0.0 and out["j2"].finish_s == pytest.approx(100.0)


def test_a_running_job_grows_onto_gpus_freed_later() -> None:
    # j1 rigid 2 GPUs for 100 s; j2 elastic gets the other 2. At 100 j1 ends: growing j2
    # to 4 saves 3900 - (30 + 300 + 1950) s, so it is stopped (grace 30 s, at 130 it has
    # done 260 of 8000) and restarts on 4 GPUs after its 20 s restore: 130 + 20 + 7740/4.
    out = run([job(1, 0, 100, gang=2), job(2, 0, 8000, gang=2, span=(1, 4), scaling=LINEAR)])
    assert out["j2"].preemptions == 1
    assert out["j2"].finish_s == pytest.approx(130.0 + 20.0 + 7740.0 / 4)


def test_a_grown_job_gives_gpus_back_when_others_wait() -> None:
    # j1 alone takes 4 GPUs. j2 (rigid 2) arrives at 1000 and waits: j1 shrinks to 2
    # (stops at 1030 with 8000 - 4120 left), both start at 1030. When j2 ends at 1130
    # the joint plan (goodput_plan.py: j1's speed is known) grows j1 back to 4: it stops
    # at 1160 having done 2 x 110 s since its restore, and ends 20 + 3660 / 4 s later.
    out = run([job(1, 0, 8000, gang=2, span=(1, 4), scaling=LINEAR), job(2, 1000, 100, gang=2)])
    assert out["j2"].first_start_s == 1030.0 and out["j2"].finish_s == pytest.approx(1130.0)
    assert out["j1"].finish_s == pytest.approx(1160.0 + 20.0 + 3660.0 / 4)


def test_a_rigid_policy_runs_elastic_jobs_at_their_preferred_size() -> None:
    sim = Simulator(
        one_node(),
        [job(1, 0, 800, gang=2, span=(1, 4), scaling=LINEAR)],
        get_policy("fifo"),
        start=START,
        settings=SimSettings(min_gap_s=0.0),
    )
    (outcome,) = sim.run().outcomes
    assert outcome.finish_s == pytest.approx(400.0)


def test_the_spec_checks_the_elastic_range() -> None:
    with pytest.raises(InvalidInput, match="min_gang_size <= gang_size <= max_gang_size"):
        JobSpec.create(
            command=["x"],
            resources=Resources.request(gpus={"any": 1}),
            gang_size=4,
            max_gang_size=2,
        )
    spec = JobSpec.create(
        command=["x"], resources=Resources.request(gpus={"any": 1}), gang_size=2, max_gang_size=8
    )
    assert spec.gang_range == (2, 8) and spec.elastic


# -- review regressions ---------------------------------------------------------------------


def test_growing_stays_within_the_elastic_range() -> None:
    # j1 accepts 2-3 members; a move to the faster model must keep at least 2 (never 1)
    t4, v100 = one_node(2, "T4", "slow")[0], one_node(2, "V100", "fast")[0]
    scaling = {"T4": {1: 1.0, 2: 2.0, 3: 3.0}, "V100": {1: 10.0, 2: 9.0, 3: 8.0}}
    blocker = job(2, 0, 1000, gang=2, scaling={"V100": {2: 1.0}, "T4": {2: 0.5}})
    elastic = job(1, 10, 40_000, gang=2, span=(2, 3), scaling=scaling)
    settings = SimSettings(min_gap_s=0.0, grace_s=30.0)
    sim = Simulator(
        (t4, v100), [blocker, elastic], get_policy("suanli"), start=START, settings=settings
    )
    out: dict[str, JobOutcome] = {o.job_id: o for o in sim.run().outcomes}
    # it moves once, to 2 x V100, and does not bounce back and forth
    assert out["j1"].preemptions == 1


def test_a_job_that_fits_nowhere_does_not_stop_others_from_growing() -> None:
    never_fits = job(9, 0, 10, gang=8)  # 8 members on a 4-GPU pool
    out = run([job(1, 10, 8000, gang=2, span=(1, 4), scaling=LINEAR), never_fits])
    assert out["j1"].finish_s == pytest.approx(10 + 8000 / 4)


def test_a_resize_held_back_by_its_cooldown_happens_when_the_cooldown_ends() -> None:
    # j1 is shrunk for j2 at 1000; j2 ends at 1130 but j1 may only grow again at 2800
    # (30 min after the shrink): the simulator must come back then, not at the next event
    out = run([job(1, 0, 80_000, gang=2, span=(1, 4), scaling=LINEAR), job(2, 1000, 100, gang=2)])
    assert out["j1"].preemptions == 2
    assert out["j1"].finish_s < 25_000  # at 2 GPUs until the end it would be ~40,000
