"""Readers of millisecond usage: the API's per-job totals and the CLI's tables show
fractional seconds exactly as metered, without float drift or noise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from suanli.api.schemas import UsagePublic
from suanli.cli import render
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId
from suanli.domain.standard import Sector, WorkloadClass
from suanli.domain.usage import CPU, UsageRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(attempt: int, dimension: str, quantity: float, ms: int) -> UsageRecord:
    start = T0 + timedelta(minutes=attempt)
    return UsageRecord(
        JobId("j"),
        attempt,
        TenantId("t"),
        ProviderId("p"),
        RegionId("r"),
        ClusterId("c"),
        NodeId("n"),
        Sector.RESEARCH,
        WorkloadClass.AI,
        dimension,
        quantity,
        start,
        start + timedelta(milliseconds=ms),
        ms,
        0.2 if dimension != "memory" else None,
        quantity * ms * 0.2 / 3_600_000 if dimension != "memory" else None,
    )


def test_job_usage_sums_milliseconds_then_divides() -> None:
    """Ten 100 ms attempts are 1 s of wall time exactly (a float sum of 0.1 s ten times is
    0.9999999999999999)."""
    records = [record(n, CPU, 2.0, 100) for n in range(1, 11)]
    records += [record(n, "gpu:A100-80GB", 1.0, 100) for n in range(1, 11)]
    usage = UsagePublic.of(records)
    assert usage.wall_seconds == 1.0
    assert usage.attempts_metered == 10
    assert usage.cpu_core_seconds == pytest.approx(2.0)
    assert usage.gpu_seconds["A100-80GB"] == pytest.approx(1.0)
    assert usage.standard_units > 0  # short attempts are not free


def test_a_sub_second_job_reads_as_fractional_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    render.usage_table(
        "tenant",
        [
            {
                "key": "t",
                "workload_class": "ai",
                "dimension": "gpu:A100-80GB",
                "standard_units": 2.7e-5,
                "unrated_amount": 0.0,
                "amount": 0.5,
                "seconds": 0.25,
                "jobs": 1,
            },
            {
                "key": "t",
                "workload_class": "ai",
                "dimension": "cpu",
                "standard_units": 0.0,
                "unrated_amount": 0.0,
                "amount": 90.0,
                "seconds": 90.0,
                "jobs": 1,
            },
        ],
    )
    lines = capsys.readouterr().out.splitlines()
    gpu = next(line for line in lines if "gpu:A100-80GB" in line).split()
    cpu = next(line for line in lines if " cpu " in f" {line} ").split()
    assert gpu[-2:] == ["0.25", "1"]
    assert cpu[-2:] == ["90", "1"]  # whole seconds read without a trailing ".0"
