from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId
from suanli.domain.jobs import Attempt, JobStatus
from suanli.domain.resources import Resources
from suanli.domain.usage import CPU
from suanli.logic.metering.attempts import meter_attempt, whole_seconds

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def attempt(n: int, start: datetime | None, end: datetime | None) -> Attempt:
    return Attempt(
        JobId("j"),
        n,
        ClusterId("c"),
        NodeId("n"),
        Resources(2000, 1024, {"A100-80GB": 2}),
        RegionId("r"),
        JobStatus.SUCCEEDED,
        T0,
        started_at=start,
        ended_at=end,
    )


def test_n_seconds_on_k_devices() -> None:
    records = meter_attempt(
        attempt(1, T0, T0 + timedelta(seconds=90)),
        tenant_id=TenantId("t"),
        provider_id=ProviderId("p"),
    )
    by_dim = {r.dimension: r for r in records}
    assert by_dim["gpu:A100-80GB"].amount == 180
    assert by_dim[CPU].amount == 180 and by_dim[CPU].seconds == 90
    assert by_dim["memory"].amount == 1024 * 90


def test_an_attempt_that_never_started_is_not_metered() -> None:
    assert (
        meter_attempt(attempt(1, None, T0), tenant_id=TenantId("t"), provider_id=ProviderId("p"))
        == []
    )


@given(st.lists(st.floats(0, 50, allow_nan=False), min_size=2, max_size=30))
def test_back_to_back_attempts_never_count_a_second_twice(gaps: list[float]) -> None:
    """Attempts that follow each other (end of one <= start of the next) are billed at
    most the seconds of the whole span: truncating both ends to the second never
    double counts a shared second."""
    times = [T0]
    for g in gaps:
        times.append(times[-1] + timedelta(seconds=g))
    total = 0
    for i in range(0, len(times) - 1, 2):
        total += whole_seconds(times[i], times[i + 1])
    assert total <= whole_seconds(times[0], times[-1])
    assert all(whole_seconds(a, b) >= 0 for a, b in itertools.pairwise(times))
