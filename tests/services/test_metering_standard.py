"""Metering in standard units end to end through the services: ratings from the node's
calibration or the catalog, sectors, classes, daily totals, operator recalibration."""

from __future__ import annotations

from datetime import timedelta

import pytest

from suanli.adapters.clock import ManualClock
from suanli.domain.calibration import NodeCalibration
from suanli.domain.catalog import default_catalog
from suanli.domain.errors import Forbidden, InvalidInput
from suanli.domain.ids import ClusterId
from suanli.domain.jobs import JobSpec
from suanli.domain.resources import Resources
from suanli.domain.standard import Sector, WorkloadClass
from suanli.domain.usage import UsageRecord
from suanli.platform import Platform
from suanli.services.agents import NodeReport
from tests.builders import World, world


@pytest.fixture
def w(platform: Platform, clock: ManualClock) -> World:
    return world(platform, clock)


def register(w: World, calibration: NodeCalibration | None) -> None:
    w.plat.agents.register(
        w.agent,
        [NodeReport("node-a", Resources(8000, 65536, {"A100-80GB": 4}), calibration)],
        agent_version="t",
        known=[],
    )


def run_job(w: World, spec: JobSpec, seconds: float) -> list[UsageRecord]:
    job = w.plat.jobs.submit(w.user, spec)
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 10)
    w.run(job.id, seconds=seconds)
    return list(w.plat.jobs.get(w.user, job.id).usage)


def test_n_seconds_on_k_gpus_is_n_k_rating(w: World) -> None:
    register(w, None)  # not measured: catalog peak x reference efficiency
    spec = JobSpec.create(
        command=["train"],
        sector=Sector.HEALTHCARE,
        resources=Resources.request(cpus=2, gpus={"A100": 2}),
    )
    usage = {r.dimension: r for r in run_job(w, spec, 600)}
    a100 = default_catalog().get("A100-80GB")
    assert a100 is not None
    rating = 312 * a100.reference_efficiency / 1000
    gpu = usage["gpu:A100-80GB"]
    assert gpu.workload_class is WorkloadClass.AI and gpu.sector is Sector.HEALTHCARE
    assert gpu.rating_pflops == pytest.approx(rating)
    assert gpu.standard_units == pytest.approx(600 * 2 * rating / 3600)
    assert usage["cpu"].standard_units is None  # an unmeasured CPU is unrated
    totals = w.plat.usage.totals(w.operator, by=("sector", "device"), tenant_id=None, since=None)
    row = next(t for t in totals if t.dimension == "gpu:A100-80GB")
    assert row.key == "healthcare/gpu:A100-80GB" and row.standard_units == pytest.approx(
        600 * 2 * rating / 3600
    )
    cpu_row = next(t for t in totals if t.dimension == "cpu")
    assert cpu_row.unrated_amount == 2 * 600


def test_a_measured_node_is_rated_by_its_measurement(w: World) -> None:
    cal = NodeCalibration(
        w.clock.now(),
        cores=8,
        cpu_fp32_gflops=800.0,
        cpu_fp64_gflops=400.0,
        triad_gbs=50.0,
        gpus={"A100-80GB": {"fp16_bf16": 250.0, "fp32": 19.0, "fp64": 18.0}},
    )
    register(w, cal)
    hpc = JobSpec.create(
        command=["sim"],
        workload_class=WorkloadClass.HPC,
        resources=Resources.request(cpus=4, gpus={"A100": 1}),
    )
    usage = {r.dimension: r for r in run_job(w, hpc, 3600)}
    assert usage["gpu:A100-80GB"].standard_units == pytest.approx(18.0 / 1000)
    assert usage["cpu"].standard_units == pytest.approx(4 * 50.0 / 1e6)


def test_daily_totals_split_a_job_that_runs_past_midnight(w: World) -> None:
    register(w, None)
    w.clock.advance(86_400 - 8 * 3600 - 30)  # 23:59:30 UTC (START is 08:00)
    spec = JobSpec.create(command=["x"], resources=Resources.request(gpus={"A100": 1}))
    run_job(w, spec, 90)
    days = w.plat.usage.totals(w.operator, by=("day",), tenant_id=None, since=None)
    gpu_days = {t.key: t.seconds for t in days if t.dimension == "gpu:A100-80GB"}
    assert list(gpu_days.values()) == [30, 60]


def test_a_sub_second_job_is_metered_to_the_millisecond(w: World) -> None:
    """A 250 ms job on 2 GPUs meters 250 ms and nonzero SCH, stored and read back; a
    stream of such jobs adds up in the totals (metered by the second, each was 0 s and the
    stream was free)."""
    register(w, None)
    spec = JobSpec.create(command=["x"], resources=Resources.request(gpus={"A100": 2}))
    a100 = default_catalog().get("A100-80GB")
    assert a100 is not None
    rating = 312 * a100.reference_efficiency / 1000
    gpu = next(r for r in run_job(w, spec, 0.25) if r.dimension == "gpu:A100-80GB")
    assert (gpu.milliseconds, gpu.seconds, gpu.amount) == (250, 0.25, 0.5)
    assert gpu.standard_units is not None and gpu.standard_units > 0
    assert gpu.standard_units == pytest.approx(2 * 250 * rating / 3_600_000)
    for _ in range(7):
        w.clock.advance(0.0007)  # the next job starts mid-millisecond
        run_job(w, spec, 0.25)
    totals = w.plat.usage.totals(w.operator, by=("tenant",), tenant_id=None, since=None)
    row = next(t for t in totals if t.dimension == "gpu:A100-80GB")
    assert row.jobs == 8 and row.seconds == 2.0 and row.amount == pytest.approx(4.0)
    assert row.standard_units == pytest.approx(8 * 2 * 250 * rating / 3_600_000)


def test_operator_asks_for_a_new_measurement(w: World) -> None:
    register(w, None)
    with pytest.raises(Forbidden):
        w.plat.pool.request_calibration(w.user, ClusterId("local"))
    w.plat.pool.request_calibration(w.operator, ClusterId("local"))
    assert w.plat.agents.heartbeat(w.agent, []).calibrate is True
    cal = NodeCalibration(w.clock.now() + timedelta(seconds=1), 8, 500.0, 250.0, 20.0)
    with pytest.raises(InvalidInput):
        w.plat.agents.calibrated(w.agent, {"no-such-node": cal})
    assert w.plat.agents.calibrated(w.agent, {"node-a": cal}) == 1
    assert w.plat.agents.heartbeat(w.agent, []).calibrate is False
    (cluster,) = w.plat.pool.clusters(w.operator)
    assert cluster.nodes[0].node.calibration == cal
    # re-registering without a measurement keeps the last one
    register(w, None)
    (cluster,) = w.plat.pool.clusters(w.operator)
    assert cluster.nodes[0].node.calibration == cal
