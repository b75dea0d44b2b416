"""The default policy's joint plan of elastic jobs whose speed is known
(logic/scheduling/goodput_plan.py), through the simulator."""

from __future__ import annotations

import pytest
from tests.simulation.test_elastic import LINEAR, START, job, one_node

from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.logic.scheduling import goodput_plan
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.snapshot import ClusterView, NodeView
from suanli.logic.simulation.engine import JobOutcome, SimSettings, Simulator
from suanli.logic.simulation.jobs import SimJob


def two_models(gpus: int = 4) -> tuple[ClusterView, ...]:
    """A T4 cluster ("slow") and an A100 one ("fast"), one node of `gpus` each."""
    out = []
    for name, model in (("slow", "T4"), ("fast", "A100-40GB")):
        cid = ClusterId(name)
        cap = Resources(64_000, 262_144, {model: gpus})
        node = NodeView(cid, NodeId(f"{name}-0"), cap, cap)
        out.append(ClusterView(cid, RegionId("r"), ProviderId("p"), "sim", (node,)))
    return tuple(out)


def simulate(clusters: tuple[ClusterView, ...], jobs: list[SimJob]) -> dict[str, JobOutcome]:
    settings = SimSettings(min_gap_s=0.0, grace_s=30.0)
    sim = Simulator(clusters, jobs, get_policy("suanli"), start=START, settings=settings)
    return {o.job_id: o for o in sim.run().outcomes}


def test_a_newcomer_starts_on_gpus_a_grown_job_gives_back() -> None:
    # j1 alone grows to all 4 GPUs; j2 (elastic too, short) arrives at 1000: j1 gives
    # GPUs back at a checkpoint (grace 30 s) and j2 starts then, without waiting for j1
    out = simulate(
        one_node(),
        [
            job(1, 0, 20_000, gang=2, span=(1, 4), scaling=LINEAR),
            job(2, 1000, 400, gang=2, span=(1, 4), scaling=LINEAR),
        ],
    )
    assert out["j2"].first_start_s <= 1030.0
    assert out["j2"].finish_s < out["j1"].finish_s
    assert out["j1"].preemptions >= 1


def test_a_running_job_moves_to_a_faster_model_when_it_frees() -> None:
    # the A100s are held by a rigid job for 500 s; the elastic job starts on the T4s
    # and moves when they free, as 4 x A100 does its work four times as fast
    spec = JobSpec.create(
        command=["sim"],
        resources=Resources.request(cpus=1, memory_mb=1024, gpus={"A100-40GB": 1}),
        gang_size=4,
    )
    holder = Job(JobId("j0"), TenantId("t"), UserId("u"), spec, JobStatus.PENDING, START, seq=0)
    scaling = {
        "T4": {1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0},
        "A100-40GB": {1: 4.0, 2: 8.0, 3: 12.0, 4: 16.0},
    }
    mover = job(1, 10, 40_000, gang=1, span=(1, 4), scaling=scaling)
    out = simulate(two_models(), [SimJob(holder, 0, 500, {"A100-40GB": 1.0}), mover])
    assert out["j1"].preemptions == 1
    # on the T4s alone it would take 10,000 s; it moved and took a fraction of that
    assert out["j1"].finish_s < 10 + 5_000


def test_a_job_with_no_work_left_is_planned_without_error() -> None:
    # a job of no work ends at once; the plan weighs it (0 s to go) beside another
    out = simulate(
        one_node(),
        [
            job(1, 0, 0.0, gang=1, span=(1, 4), scaling=LINEAR),
            job(2, 0, 400, gang=1, span=(1, 4), scaling=LINEAR),
        ],
    )
    assert out["j1"].finish_s <= out["j2"].finish_s


def test_under_a_deep_queue_the_job_sped_up_most_gets_the_fast_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the A100 is held by a rigid job until 500; the long job starts on the T4 and three
    # short ones queue behind it. When the A100 frees, the first short job (1.2x faster
    # there) would take it and the long one (8x faster there) stay on the T4 until the
    # queue drains; instead the long one moves and the short one takes its T4
    spec = JobSpec.create(
        command=["sim"],
        resources=Resources.request(cpus=1, memory_mb=1024, gpus={"A100-40GB": 1}),
    )
    holder = Job(JobId("j0"), TenantId("t"), UserId("u"), spec, JobStatus.PENDING, START, seq=0)
    # elastic (1-2 GPUs), but each model has one GPU: they run at 1
    long_speed = {"T4": {1: 1.0, 2: 2.0}, "A100-40GB": {1: 8.0, 2: 16.0}}
    short_speed = {"T4": {1: 1.0, 2: 2.0}, "A100-40GB": {1: 1.2, 2: 2.4}}

    def workload() -> list[SimJob]:
        long = job(1, 10, 40_000, gang=1, span=(1, 2), scaling=long_speed)
        shorts = [job(i, 100, 600, gang=1, span=(1, 2), scaling=short_speed) for i in (2, 3, 4)]
        return [SimJob(holder, 0, 500, {"A100-40GB": 1.0}), long, *shorts]

    swapped = simulate(two_models(gpus=1), workload())
    monkeypatch.setattr(goodput_plan, "SWAP_GAIN", float("inf"))
    kept = simulate(two_models(gpus=1), workload())
    assert swapped["j1"].preemptions == 1
    # it moved when the A100 freed (500 s + a checkpoint and restart), not after the
    # three short jobs (another ~1,500 s)
    assert swapped["j1"].finish_s < kept["j1"].finish_s - 1_000
    assert kept["j1"].finish_s < 40_000  # it moved too, later
    shorts = ("j2", "j3", "j4")
    assert max(swapped[j].finish_s for j in shorts) < swapped["j1"].finish_s
