"""Simulation metrics on hand-computed runs: step series and their downsampling,
finish-time fairness, standard units, SLO attainment, the JCT CDF and the JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.snapshot import ClusterView, NodeView
from suanli.logic.simulation.engine import (
    JobOutcome,
    Sample,
    SimResult,
    SimSettings,
    Simulator,
)
from suanli.logic.simulation.jobs import SimJob
from suanli.logic.simulation.metrics import (
    jct_cdf,
    report,
    slo_attainment,
    utilisation_series,
)
from suanli.logic.simulation.timeline import StepSeries, downsample

START = datetime(2026, 1, 1, tzinfo=UTC)


def job(i: int, work: float, *, tenant: str = "t", gpus: int = 1, service: str = "") -> SimJob:
    spec = JobSpec.create(
        command=["sim"],
        resources=Resources.request(cpus=1, memory_mb=1024, gpus={"T4": gpus}),
        service=service,
    )
    j = Job(JobId(f"j{i}"), TenantId(tenant), UserId("u"), spec, JobStatus.PENDING, START, seq=i)
    return SimJob(j, 0.0, work)


def outcome(
    i: int,
    arrival: float,
    start: float,
    finish: float,
    *,
    tenant: str = "t",
    preemptions: int = 0,
    units: float = 0.0,
) -> JobOutcome:
    return JobOutcome(
        JobId(f"j{i}"), tenant, arrival, start, finish, preemptions, finish - start, units
    )


def result(
    outcomes: list[JobOutcome],
    timeline: list[Sample],
    makespan: float,
    *,
    gpus: int = 1,
    unfinished: tuple[str, ...] = (),
) -> SimResult:
    busy = sum(o.gpu_seconds for o in outcomes)
    return SimResult(
        tuple(outcomes),
        tuple(JobId(u) for u in unfinished),
        makespan,
        0,
        len(timeline),
        busy,
        gpus,
        tuple(timeline),
    )


def test_step_series_integrates_and_averages_over_any_window() -> None:
    s = StepSeries([0.0, 50.0, 100.0], [2.0, 4.0, 0.0], end=150.0)
    assert s.integral(0, 150) == pytest.approx(2 * 50 + 4 * 50)
    assert s.integral(25, 75) == pytest.approx(2 * 25 + 4 * 25)
    assert s.average(40, 60) == pytest.approx(3.0)
    assert s.at(49.9) == 2.0 and s.at(50.0) == 4.0 and s.at(-1.0) == 0.0
    assert s.integral(120, 500) == 0.0  # past the end nothing accrues


def test_utilisation_series_is_busy_over_pool_gpus_and_keeps_area_when_downsampled() -> None:
    timeline = [Sample(0.0, 2, 0, 1), Sample(50.0, 4, 3, 2), Sample(100.0, 0, 0, 0)]
    r = result([], timeline, 150.0, gpus=4)
    # short series: every sample, and a closing point at the makespan
    assert utilisation_series(r) == ((0.0, 0.5), (50.0, 1.0), (100.0, 0.0), (150.0, 0.0))
    # two buckets of 75 s: [0,75) = (0.5*50 + 1*25)/75, [75,150) = (1*25 + 0*50)/75
    two = utilisation_series(r, points=2)
    assert [t for t, _ in two] == [0.0, 75.0, 150.0]
    assert two[0][1] == pytest.approx(50 / 75) and two[1][1] == pytest.approx(25 / 75)
    area = sum(v * 75 for _, v in two[:2])
    assert area == pytest.approx(0.5 * 50 + 1.0 * 50)


def test_downsampling_bounds_the_points() -> None:
    times = [float(t) for t in range(10_000)]
    series = StepSeries(times, [float(t % 7) for t in times], end=10_000.0)
    points = downsample(series, 500)
    assert len(points) == 501 and points[-1][0] == 10_000.0
    assert sum(v * 20 for _, v in points[:-1]) == pytest.approx(series.integral(0, 10_000))


def test_finish_time_fairness_by_hand() -> None:
    # One GPU, two jobs of 100 s arriving at 0: j1 runs [0,100), j2 [100,200).
    # Present: 2 jobs on [0,100), 1 on [100,200).
    jobs = [job(1, 100), job(2, 100)]
    timeline = [Sample(0.0, 1, 1, 1), Sample(100.0, 1, 0, 1), Sample(200.0, 0, 0, 0)]
    r = report(result([outcome(1, 0, 0, 100), outcome(2, 0, 100, 200)], timeline, 200.0), jobs)
    # j1: N_avg 2, rho = 100 / (100 * 2) = 0.5; j2: N_avg 300/200 = 1.5, rho = 200/150
    assert r.fairness.max_rho == pytest.approx(200 / 150)
    assert r.fairness.avg_rho == pytest.approx((0.5 + 200 / 150) / 2)
    assert r.fairness.share_fair == pytest.approx(0.5)


def test_finish_time_fairness_of_a_simulated_run() -> None:
    cid = ClusterId("c")
    cap = Resources(64_000, 262_144, {"T4": 1})
    pool = (
        ClusterView(
            cid, RegionId("r"), ProviderId("p"), "sim", (NodeView(cid, NodeId("n"), cap, cap),)
        ),
    )
    jobs = [job(1, 100), job(2, 100)]
    settings = SimSettings(min_gap_s=0.0)
    run = Simulator(pool, jobs, get_policy("fifo"), start=START, settings=settings).run()
    r = report(run, jobs)
    assert r.fairness.max_rho == pytest.approx(200 / 150)
    assert r.fairness.share_fair == pytest.approx(0.5)


def test_units_are_the_sum_of_metered_units_overall_and_per_tenant() -> None:
    cid = ClusterId("c")
    cap = Resources(64_000, 262_144, {"T4": 2})
    pool = (
        ClusterView(
            cid, RegionId("r"), ProviderId("p"), "sim", (NodeView(cid, NodeId("n"), cap, cap),)
        ),
    )
    jobs = [job(1, 1800, tenant="a", gpus=2), job(2, 3600, tenant="b")]
    run = Simulator(
        pool,
        jobs,
        get_policy("fifo"),
        start=START,
        settings=SimSettings(min_gap_s=0.0),
        units_per_gpu_hour=lambda model: 0.5 if model == "T4" else 0.0,
    ).run()
    r = report(run, jobs)
    # a: 2 GPUs x 0.5 h x 0.5 = 0.5; b: 1 GPU x 1 h x 0.5 = 0.5 (after a, on one GPU)
    assert r.by_tenant["a"].units == pytest.approx(0.5)
    assert r.by_tenant["b"].units == pytest.approx(0.5)
    assert r.overall.units == pytest.approx(1.0)
    assert r.to_json()["units"] == pytest.approx(1.0)


def test_slo_attainment_of_deadlines_and_service_replicas() -> None:
    jobs = [
        job(1, 100, tenant="a"),  # deadline 2x: JCT 150 <= 200, met
        job(2, 100, tenant="a"),  # deadline 1.2x: JCT 200 > 120, missed
        job(3, 100, tenant="b", service="chat"),  # started after 30 s, met
        job(4, 100, tenant="b", service="chat"),  # preempted once, missed
        job(5, 100, tenant="b"),  # deadline, unfinished: missed
        job(6, 100, tenant="c"),  # no SLO: not counted
    ]
    outcomes = [
        outcome(1, 0, 50, 150, tenant="a"),
        outcome(2, 0, 100, 200, tenant="a"),
        outcome(3, 0, 30, 130, tenant="b"),
        outcome(4, 0, 0, 160, tenant="b", preemptions=1),
        outcome(6, 0, 0, 100, tenant="c"),
    ]
    run = result(outcomes, [], 200.0, unfinished=("j5",))
    deadlines = {JobId("j1"): 2.0, JobId("j2"): 1.2, JobId("j5"): 3.0}
    slo = slo_attainment(run, jobs, deadlines)
    assert slo is not None
    assert (slo.overall.jobs, slo.overall.met) == (5, 2)
    assert (slo.by_tenant["a"].jobs, slo.by_tenant["a"].met) == (2, 1)
    assert (slo.by_tenant["b"].jobs, slo.by_tenant["b"].met) == (3, 1)
    assert "c" not in slo.by_tenant
    assert slo.to_json()["attainment"] == pytest.approx(0.4)
    # a service replica that waited longer than the start bound missed it
    late = slo_attainment(run, jobs, {}, service_start_s=10.0)
    assert late is not None and late.by_tenant["b"].met == 0


def test_no_slo_means_none_in_the_report() -> None:
    jobs = [job(1, 100)]
    r = report(result([outcome(1, 0, 0, 100)], [Sample(0.0, 1, 0, 1)], 100.0), jobs)
    assert r.slo is None and r.to_json()["slo"] is None


def test_jct_cdf_lists_every_job_or_evenly_spaced_quantiles() -> None:
    few = [outcome(i, 0, 0, float(10 * i)) for i in range(1, 5)]
    assert jct_cdf(few) == ((10.0, 0.25), (20.0, 0.5), (30.0, 0.75), (40.0, 1.0))
    many = [outcome(i, 0, 0, float(i)) for i in range(1, 1001)]
    cdf = jct_cdf(many, points=10)
    assert len(cdf) == 10 and cdf[-1] == (1000.0, 1.0) and cdf[0] == (100.0, 0.1)


def test_report_json_has_every_metric_and_the_series() -> None:
    jobs = [job(1, 100), job(2, 100)]
    timeline = [Sample(0.0, 1, 1, 1), Sample(100.0, 1, 0, 1), Sample(200.0, 0, 0, 0)]
    r = report(result([outcome(1, 0, 0, 100), outcome(2, 0, 100, 200)], timeline, 200.0), jobs)
    data = r.to_json()
    assert {"avg_jct_s", "p99_jct_s", "gpu_utilization", "makespan_s", "units"} <= set(data)
    assert data["fairness"] == {
        "jobs": 2,
        "max_rho": 1.333,
        "avg_rho": 0.917,
        "share_rho_le_1": 0.5,
    }
    series = data["series"]
    assert isinstance(series, dict)
    assert series["gpu_utilization"] == [[0.0, 1.0], [100.0, 1.0], [200.0, 0.0]]
    assert series["queued_jobs"] == [[0.0, 1.0], [100.0, 0.0], [200.0, 0.0]]
    assert series["jct_cdf"] == [[100.0, 0.5], [200.0, 1.0]]
