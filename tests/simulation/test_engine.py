"""The simulator drives the live cycle: hand-computed job completion times on tiny pools,
determinism, speed by GPU model, and preemption with restart cost."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus, PriorityClass
from suanli.domain.resources import Resources
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.policies.fifo import FifoFirstFit
from suanli.logic.scheduling.snapshot import ClusterView, NodeView, Snapshot
from suanli.logic.scheduling.state import CycleState, SchedulerSettings
from suanli.logic.simulation.engine import JobOutcome, SimResult, SimSettings, Simulator
from suanli.logic.simulation.events import EventQueue, Kind
from suanli.logic.simulation.jobs import SimJob
from suanli.logic.simulation.metrics import percentile, report

START = datetime(2026, 1, 1, tzinfo=UTC)


def pool(**models: int) -> tuple[ClusterView, ...]:
    """One cluster per model, one node each with that many GPUs."""
    out = []
    for i, (model, n) in enumerate(models.items()):
        cid = ClusterId(f"c{i}")
        cap = Resources(64_000, 262_144, {model: n})
        out.append(
            ClusterView(
                cid, RegionId("r"), ProviderId("p"), "sim", (NodeView(cid, NodeId("n0"), cap, cap),)
            )
        )
    return tuple(out)


def sim_job(
    i: int,
    arrival: float,
    work: float,
    gpus: int = 1,
    model: str = "any",
    speed: dict[str, float] | None = None,
    cls: PriorityClass = PriorityClass.STANDARD,
) -> SimJob:
    spec = JobSpec.create(
        command=["sim"],
        resources=Resources.request(cpus=1, memory_mb=1024, gpus={model: gpus}),
        priority_class=cls,
        time_limit_s=int(work * 2) + 60,
    )
    job = Job(JobId(f"j{i}"), TenantId("t"), UserId("u"), spec, JobStatus.PENDING, START, seq=i)
    return SimJob(job, arrival, work, speed or {})


def run(
    jobs: list[SimJob],
    clusters: tuple[ClusterView, ...],
    policy: str = "fifo",
    *,
    gap: float = 0.0,
    grace_s: float = 30.0,
    restart_cost_s: float = 30.0,
) -> SimResult:
    settings = SimSettings(min_gap_s=gap, grace_s=grace_s, restart_cost_s=restart_cost_s)
    return Simulator(clusters, jobs, get_policy(policy), start=START, settings=settings).run()


def test_events_fire_in_time_then_kind_then_insertion_order() -> None:
    q = EventQueue()
    q.push(5.0, Kind.CYCLE, "c")
    q.push(5.0, Kind.ARRIVE, "a2")
    q.push(1.0, Kind.CYCLE, "early")
    q.push(5.0, Kind.ARRIVE, "a1")
    q.push(5.0, Kind.FINISH, "f")
    assert [q.pop().subject for _ in range(5)] == ["early", "f", "a2", "a1", "c"]


def test_fifo_on_one_gpu_runs_jobs_back_to_back() -> None:
    result = run([sim_job(1, 0, 100), sim_job(2, 10, 50), sim_job(3, 20, 10)], pool(T4=1))
    finish = {o.job_id: o.finish_s for o in result.outcomes}
    assert finish == {"j1": 100.0, "j2": 150.0, "j3": 160.0}
    jct = {o.job_id: o.jct_s for o in result.outcomes}
    assert jct == {"j1": 100.0, "j2": 140.0, "j3": 140.0}
    assert result.makespan_s == 160.0 and not result.unfinished
    assert result.busy_gpu_seconds == pytest.approx(160.0)


def test_a_faster_model_finishes_sooner() -> None:
    jobs = [sim_job(1, 0, 300, model="H100", speed={"H100": 3.0})]
    (outcome,) = run(jobs, pool(H100=1)).outcomes
    assert outcome.finish_s == pytest.approx(100.0)


def test_the_cycle_gap_delays_starts_like_the_live_loop() -> None:
    result = run([sim_job(1, 0, 100), sim_job(2, 5, 10)], pool(T4=2), gap=60.0)
    first = {o.job_id: o.first_start_s for o in result.outcomes}
    assert first == {"j1": 0.0, "j2": 60.0}


def test_a_preempted_job_resumes_with_its_progress_and_the_restart_cost() -> None:
    low = sim_job(1, 0, 1000, cls=PriorityClass.PREEMPTIBLE)
    high = sim_job(2, 100, 50, cls=PriorityClass.GUARANTEED)
    result = run([low, high], pool(T4=1), "suanli", grace_s=30.0, restart_cost_s=20.0)
    by_id: dict[str, JobOutcome] = {o.job_id: o for o in result.outcomes}
    # high arrives at 100, preempts low (stops at 130), starts at 130, ends at 180
    assert by_id["j2"].first_start_s == 130.0 and by_id["j2"].finish_s == 180.0
    # low did 130 s of work; 870 + 20 left, restarted at 180
    assert by_id["j1"].preemptions == 1
    assert by_id["j1"].finish_s == pytest.approx(180.0 + 870.0 + 20.0)


def test_the_same_input_gives_the_same_history() -> None:
    jobs = [sim_job(i, i * 7.0, 50 + (i * 37) % 200, gpus=1 + i % 2) for i in range(40)]
    a = run(jobs, pool(T4=4, A100=2), "suanli", gap=30.0)
    b = run(jobs, pool(T4=4, A100=2), "suanli", gap=30.0)
    assert a == b and len(a.outcomes) == 40


def test_metrics_of_a_hand_computed_run() -> None:
    jobs = [sim_job(1, 0, 100), sim_job(2, 10, 50), sim_job(3, 20, 10)]
    result = run(jobs, pool(T4=1))
    r = report(result, jobs)
    # JCTs 100, 140, 140; ideal run times 100, 50, 10
    assert r.overall.avg_jct_s == pytest.approx(380 / 3)
    assert (r.overall.p50_jct_s, r.overall.p99_jct_s) == (140.0, 140.0)
    assert r.overall.avg_queueing_s == pytest.approx((0 + 90 + 130) / 3)
    assert r.overall.avg_slowdown == pytest.approx((1.0 + 2.8 + 14.0) / 3)
    assert r.gpu_utilization == pytest.approx(1.0) and r.makespan_s == 160.0
    assert set(r.by_tenant) == {"t"} and r.to_json()["jobs"] == 3


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (
        50.0,
        99.0,
        100.0,
    )
    assert percentile([], 50) == 0.0


class _LeastAttained(FifoFirstFit):
    """A round-robin for the rounds-mode tests: least GPU-seconds received first."""

    name = "least-attained-test"
    append_only = False

    def order(self, snapshot: Snapshot, state: CycleState) -> Iterable[Job]:
        return sorted(snapshot.queue, key=lambda j: (snapshot.progress[j.id].attained_gpu_s, j.seq))


def test_rounds_time_share_one_gpu_and_renew_leases_in_place() -> None:
    jobs = [sim_job(1, 0, 300), sim_job(2, 0, 300)]
    settings = SimSettings(round_s=100.0, restart_cost_s=0.0)
    policy = _LeastAttained(SchedulerSettings())
    result = Simulator(pool(T4=1), jobs, policy, start=START, settings=settings).run()
    finish = {o.job_id: o.finish_s for o in result.outcomes}
    # j1 runs [0,100) [200,300) [400,500); j2 [100,200) [300,400) [500,600)
    assert finish == {"j1": 500.0, "j2": 600.0}
    assert {o.job_id: o.preemptions for o in result.outcomes} == {"j1": 2, "j2": 2}
    assert [s.busy_gpus for s in result.timeline] == [1] * 6 + [0]  # last: after j2


def test_rounds_charge_the_restart_cost_when_a_suspended_job_resumes() -> None:
    jobs = [sim_job(1, 0, 150), sim_job(2, 0, 150)]
    settings = SimSettings(round_s=100.0, restart_cost_s=10.0)
    policy = _LeastAttained(SchedulerSettings())
    result = Simulator(pool(T4=1), jobs, policy, start=START, settings=settings).run()
    finish = {o.job_id: o.finish_s for o in result.outcomes}
    # j1 [0,100): 100 done; j2 [100,200): 100 done; j1 resumes at 200: 10 s restore + 50
    # -> 260; j2 resumes at 300 (next round): 10 + 50 -> 360.
    assert finish == {"j1": 260.0, "j2": 360.0}


def test_a_lease_renewed_in_place_keeps_running_without_cost() -> None:
    jobs = [sim_job(1, 0, 250)]
    settings = SimSettings(round_s=100.0, restart_cost_s=50.0)
    result = Simulator(pool(T4=1), jobs, get_policy("fifo"), start=START, settings=settings).run()
    (outcome,) = result.outcomes
    assert outcome.finish_s == 250.0 and outcome.preemptions == 0


def test_progress_tells_policies_attained_service_and_remaining_work() -> None:
    seen: list[tuple[float, float | None]] = []

    class Spy(FifoFirstFit):
        def order(self, snapshot: Snapshot, state: CycleState) -> Iterable[Job]:
            for j in snapshot.queue:
                p = snapshot.progress[j.id]
                seen.append((p.attained_gpu_s, p.remaining_s("T4")))
            return super().order(snapshot, state)

    jobs = [sim_job(1, 0, 300, gpus=2, model="T4", speed={"T4": 2.0})]
    settings = SimSettings(round_s=100.0, restart_cost_s=0.0)
    Simulator(pool(T4=2), jobs, Spy(SchedulerSettings()), start=START, settings=settings).run()
    # rate 2 -> 150 s of work; rounds at 0 and 100: 200 GPU-s attained, 50 s left
    assert seen == [(0.0, 150.0), (200.0, 50.0)]


def test_rates_interpolate_measured_scaling_and_stay_flat_beyond_it() -> None:
    job = sim_job(1, 0, 100, gpus=1, model="A100")
    elastic = SimJob(job.job, 0, 100, {}, {"A100": {1: 10.0, 4: 34.0}})
    assert elastic.rate("A100", 1) == 10.0
    assert elastic.rate("A100", 2) == pytest.approx(18.0)
    assert elastic.rate("A100", 8) == 34.0
    assert elastic.rate("T4", 1) == 1.0


def test_duplicate_job_ids_are_refused_not_dropped() -> None:
    from suanli.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match="appears more than once"):
        Simulator(
            pool(T4=1), [sim_job(1, 0, 10), sim_job(1, 5, 10)], get_policy("fifo"), start=START
        )


def test_a_simulator_runs_once() -> None:
    sim = Simulator(pool(T4=1), [sim_job(1, 0, 10)], get_policy("fifo"), start=START)
    sim.run()
    with pytest.raises(RuntimeError, match="runs once"):
        sim.run()


def test_a_job_that_never_fits_does_not_stretch_the_makespan() -> None:
    jobs = [sim_job(1, 0, 100), sim_job(2, 0, 10, gpus=8)]  # j2 never fits one T4
    result = run(jobs, pool(T4=1), "suanli")
    assert result.unfinished == ("j2",)
    assert result.makespan_s == 100.0


def test_rounds_keep_deciding_while_a_policy_holds_queued_jobs_back() -> None:
    from suanli.logic.scheduling.policies.gavel import GavelMaxMinPerf

    jobs = [
        sim_job(1, 0, 100, model="V100", speed={"V100": 1.0}),
        sim_job(2, 500, 100, model="V100", speed={"V100": 1.0}),
    ]
    # Gavel reallocates at most every 1,920 s: j2 waits for that, on an idle pool
    policy = GavelMaxMinPerf(SchedulerSettings(), min_reset_s=1920.0)
    result = Simulator(pool(V100=4), jobs, policy, start=START).run()
    assert not result.unfinished and len(result.outcomes) == 2
