"""Trace rows become simulator jobs: gangs past one node, speeds from ratings or measured
throughputs, time limits from durations, unusable rows skipped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from suanli.adapters.traces.model import Throughputs, TraceJob
from suanli.adapters.traces.simulation_input import sim_jobs, speeds
from suanli.logic.scheduling.fairshare import gpu_rating

START = datetime(2026, 1, 1, tzinfo=UTC)


def row(i: str, submit: float, duration: float | None, gpus: int, job_type: str = "") -> TraceJob:
    return TraceJob(i, submit, duration, gpus, tenant="vc1", job_type=job_type)


def test_rows_become_jobs_in_submission_order_with_gangs_past_one_node() -> None:
    rows = [row("b", 10, 100, 16), row("a", 0, 50, 2), row("c", 5, None, 1), row("d", 6, 9, 0)]
    converted = sim_jobs(rows, start=START, models=["V100", "K80"], reference="V100")
    assert converted.skipped == 2
    a, b = converted.jobs
    assert (a.job.id, a.arrival_s, a.work) == ("t-a", 0, 50)
    assert a.job.spec.gang_size == 1 and a.job.spec.resources.gpus == {"any": 2}
    assert b.job.spec.gang_size == 2 and b.job.spec.resources.gpus == {"any": 8}
    assert b.job.spec.time_limit_s == 200 and a.job.spec.time_limit_s == 100
    assert a.job.seq < b.job.seq and a.job.tenant_id == "vc1"
    assert a.speed["V100"] == pytest.approx(1.0)
    assert a.speed["K80"] == pytest.approx(gpu_rating("K80") / gpu_rating("V100"))


def test_measured_throughputs_win_over_ratings() -> None:
    table = Throughputs("steps/s", {("resnet", "V100"): {1: 10.0}, ("resnet", "K80"): {1: 2.5}})
    got = speeds(["V100", "K80"], "V100", "resnet", table)
    assert got == {"V100": 1.0, "K80": 0.25}
    assert speeds(["K80"], "V100", "bert", table)["K80"] == pytest.approx(
        gpu_rating("K80") / gpu_rating("V100")
    )
