from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from suanli.domain.calibration import NodeCalibration
from suanli.domain.catalog import default_catalog
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId
from suanli.domain.jobs import Attempt, JobStatus
from suanli.domain.resources import Resources
from suanli.domain.standard import Sector, WorkloadClass
from suanli.domain.usage import CPU
from suanli.logic.metering.attempts import (
    DAY_MS,
    EPOCH,
    MeteringContext,
    day_segments,
    epoch_ms,
    meter_attempt,
    whole_ms,
)
from suanli.logic.metering.ratings import device_rating_pflops, node_ratings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
H100_AI = 989.4 * 0.7 / 1000  # catalog peak x reference efficiency, in PFLOPS


def attempt(
    n: int, start: datetime | None, end: datetime | None, gpus: dict[str, int] | None = None
) -> Attempt:
    return Attempt(
        JobId("j"),
        n,
        ClusterId("c"),
        NodeId("n"),
        Resources(2000, 1024, gpus if gpus is not None else {"H100": 2}),
        RegionId("r"),
        JobStatus.SUCCEEDED,
        T0,
        started_at=start,
        ended_at=end,
    )


def ctx(ratings: dict[str, float | None]) -> MeteringContext:
    return MeteringContext(
        TenantId("t"), ProviderId("p"), Sector.RESEARCH, WorkloadClass.AI, ratings
    )


def test_n_seconds_on_k_devices_is_n_k_rating() -> None:
    ratings = node_ratings(default_catalog(), None, {"H100": 2}, WorkloadClass.AI)
    assert abs(ratings["gpu:H100"] - H100_AI) < 1e-9  # type: ignore[operator]
    records = meter_attempt(attempt(1, T0, T0 + timedelta(seconds=90)), ctx(ratings))
    by_dim = {r.dimension: r for r in records}
    gpu = by_dim["gpu:H100"]
    assert gpu.amount == 180 and gpu.seconds == 90
    assert gpu.standard_units is not None
    assert abs(gpu.standard_units - 90 * 2 * H100_AI / 3600) < 1e-12
    assert by_dim[CPU].standard_units is None  # no calibration: the CPU is unrated
    assert by_dim["memory"].rating_pflops is None and by_dim["memory"].amount == 1024 * 90
    assert {r.sector for r in records} == {Sector.RESEARCH}


def test_measured_efficiency_replaces_the_reference_and_is_capped() -> None:
    cat = default_catalog()
    peak = cat.get("A100-80GB").peak_tflops(WorkloadClass.AI)  # type: ignore[union-attr]
    assert peak is not None
    assert device_rating_pflops(cat, "A100-80GB", WorkloadClass.AI, 250.0) == 250.0 / 1000
    assert device_rating_pflops(cat, "A100-80GB", WorkloadClass.AI, 10_000.0) == peak / 1000
    # a model the catalog does not know is rated from its measurement alone
    assert device_rating_pflops(cat, "NO-SUCH", WorkloadClass.AI, 50.0) == 0.05
    assert device_rating_pflops(cat, "NO-SUCH", WorkloadClass.AI, None) is None


def test_cpu_cores_are_rated_from_the_node_measurement() -> None:
    cal = NodeCalibration(T0, cores=4, cpu_fp32_gflops=200.0, cpu_fp64_gflops=100.0, triad_gbs=10.0)
    general = node_ratings(default_catalog(), cal, {}, WorkloadClass.GENERAL)
    hpc = node_ratings(default_catalog(), cal, {}, WorkloadClass.HPC)
    assert general[CPU] == 50.0 / 1e6 and hpc[CPU] == 25.0 / 1e6


def test_an_attempt_that_never_started_is_not_metered() -> None:
    assert meter_attempt(attempt(1, None, T0), ctx({})) == []


def test_attempts_are_split_at_utc_midnight() -> None:
    start = T0 + timedelta(hours=23, minutes=59, seconds=30)
    records = meter_attempt(
        attempt(1, start, start + timedelta(seconds=90), gpus={}), ctx({CPU: 1e-5})
    )
    cpu = [r for r in records if r.dimension == CPU]
    assert [(r.started_at, r.seconds) for r in cpu] == [(start, 30), (T0 + timedelta(days=1), 60)]
    assert all(r.started_at.date() == (r.ended_at - timedelta(microseconds=1)).date() for r in cpu)


@given(st.floats(0, 5 * 86_400, allow_nan=False), st.floats(0, 4 * 86_400, allow_nan=False))
def test_day_segments_add_up_and_stay_within_a_day(offset: float, length: float) -> None:
    start = T0 + timedelta(seconds=offset)
    end = start + timedelta(seconds=length)
    segments = list(day_segments(start, end))
    assert sum(s for _, s in segments) == whole_ms(start, end)
    for seg_start, ms in segments:
        assert (seg_start + timedelta(milliseconds=ms - 1)).date() == seg_start.date() or (ms == 0)


@given(st.lists(st.floats(0, 50, allow_nan=False), min_size=2, max_size=30))
def test_back_to_back_attempts_never_count_a_millisecond_twice(gaps: list[float]) -> None:
    """Attempts that follow each other (end of one <= start of the next) are billed at
    most the milliseconds of the whole span: truncating both ends to the millisecond
    never double counts a shared millisecond."""
    times = [T0]
    for g in gaps:
        times.append(times[-1] + timedelta(seconds=g))
    total = 0
    for i in range(0, len(times) - 1, 2):
        total += whole_ms(times[i], times[i + 1])
    assert total <= whole_ms(times[0], times[-1])
    assert all(whole_ms(a, b) >= 0 for a, b in itertools.pairwise(times))


@given(
    st.lists(
        st.tuples(
            st.floats(0, 3 * 86_400, allow_nan=False), st.floats(0, 2 * 86_400, allow_nan=False)
        ),
        max_size=8,
    )
)
def test_retried_attempts_are_metered_per_attempt_and_never_twice(
    spans: list[tuple[float, float]],
) -> None:
    """A job retried, preempted or requeued N times: each attempt's records cover exactly
    its own milliseconds, and no (attempt, dimension, day) key repeats."""
    records = []
    expected = 0
    t = T0
    for number, (gap, length) in enumerate(spans, start=1):
        start = t + timedelta(seconds=gap)
        end = start + timedelta(seconds=length)
        records += meter_attempt(attempt(number, start, end, gpus={}), ctx({CPU: 1e-5}))
        expected += whole_ms(start, end)
        t = end
    cpu = [r for r in records if r.dimension == CPU]
    assert sum(r.milliseconds for r in cpu) == expected
    keys = [(r.attempt, r.dimension, r.started_at) for r in records]
    assert len(keys) == len(set(keys))


def test_a_sub_second_attempt_is_metered_to_the_millisecond() -> None:
    """A 250 ms attempt used 250 ms: under whole seconds it metered 0 s, and a stream of
    short jobs would have been free."""
    start = T0 + timedelta(microseconds=900_000)
    (gpu,) = [
        r
        for r in meter_attempt(
            attempt(1, start, start + timedelta(milliseconds=250), gpus={"A100-80GB": 2}),
            ctx({"gpu:A100-80GB": 0.2}),
        )
        if r.dimension.startswith("gpu:")
    ]
    assert gpu.milliseconds == 250 and gpu.seconds == 0.25
    assert gpu.amount == 0.5  # device-seconds
    assert gpu.standard_units == 2 * 250 * 0.2 / 3_600_000


@given(st.integers(0, 10**12), st.integers(0, 10**9))
def test_whole_ms_is_exact_for_any_instants(start_us: int, length_us: int) -> None:
    start = T0 + timedelta(microseconds=start_us)
    end = start + timedelta(microseconds=length_us)
    assert whole_ms(start, end) == (start_us + length_us) // 1000 - start_us // 1000


def test_a_zero_length_attempt_is_on_record_with_zero_milliseconds() -> None:
    """An attempt that ended within the millisecond it started still ran: one record per
    dimension, 0 ms, 0 standard units (not None: the hardware is rated)."""
    start = T0 + timedelta(hours=5, microseconds=123_456)
    records = meter_attempt(
        attempt(1, start, start + timedelta(microseconds=400), gpus={"H100": 1}),
        ctx({CPU: 1e-5, "gpu:H100": 0.5}),
    )
    assert {r.dimension for r in records} == {CPU, "memory", "gpu:H100"}
    assert all(r.milliseconds == 0 and r.amount == 0 for r in records)
    assert all(r.started_at == T0 + timedelta(hours=5, milliseconds=123) for r in records)
    gpu = next(r for r in records if r.dimension == "gpu:H100")
    assert gpu.standard_units == 0


def test_a_sub_second_attempt_over_midnight_is_split_to_the_millisecond() -> None:
    """23:59:59.4995 to 00:00:00.2507: the ends truncate to .499 and .250, so 501 ms on
    the first day and 250 ms on the second, summing exactly to the whole."""
    midnight = T0 + timedelta(days=1)
    start = midnight - timedelta(microseconds=500_500)
    end = midnight + timedelta(microseconds=250_700)
    assert list(day_segments(start, end)) == [
        (midnight - timedelta(milliseconds=501), 501),
        (midnight, 250),
    ]
    records = meter_attempt(attempt(1, start, end, gpus={}), ctx({CPU: 1e-5}))
    cpu = [r for r in records if r.dimension == CPU]
    assert [r.milliseconds for r in cpu] == [501, 250]
    assert sum(r.milliseconds for r in cpu) == whole_ms(start, end) == 751
    assert [r.ended_at for r in cpu] == [midnight, midnight + timedelta(milliseconds=250)]


@given(st.lists(st.integers(0, 5_000_000), min_size=2, max_size=40))
def test_contiguous_attempts_at_any_instants_sum_to_the_whole_span(gaps_us: list[int]) -> None:
    """Attempts where each starts at the instant the previous ended (a retry, a requeue),
    at microsecond instants that need not fall on a millisecond: their milliseconds sum to
    exactly the span's, so a shared millisecond is neither counted twice nor lost."""
    times = [T0 + timedelta(hours=23, minutes=59)]
    for g in gaps_us:
        times.append(times[-1] + timedelta(microseconds=g))
    parts = [whole_ms(a, b) for a, b in itertools.pairwise(times)]
    assert sum(parts) == whole_ms(times[0], times[-1])


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(UTC),
    ),
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(UTC),
    ),
)
def test_day_segments_of_arbitrary_instants_sum_exactly(a: datetime, b: datetime) -> None:
    """For any two instants (microsecond resolution, any span, start after end
    included): the segments are contiguous, each lies within one UTC day, and their
    milliseconds sum to end_ms - start_ms (0 when the end is not after the start)."""
    start, end = a, b
    start_ms = epoch_ms(start)
    end_ms = epoch_ms(end)
    expected = max(0, end_ms - start_ms)
    if expected > 3 * DAY_MS:  # keep each example cheap: move the start near the end
        start = end - timedelta(milliseconds=3 * DAY_MS + (start_ms % 997))
        start_ms = epoch_ms(start)
        expected = end_ms - start_ms
    segments = list(day_segments(start, end))
    assert sum(ms for _, ms in segments) == expected == whole_ms(start, end)
    cursor = start_ms
    for seg_start, ms in segments:
        assert ms > 0 and epoch_ms(seg_start) == cursor
        assert cursor // DAY_MS == (cursor + ms - 1) // DAY_MS  # within one UTC day
        cursor += ms
    assert not segments or cursor == end_ms


def test_epoch_ms_truncates_toward_the_past() -> None:
    assert epoch_ms(EPOCH + timedelta(microseconds=999)) == 0
    assert epoch_ms(EPOCH + timedelta(microseconds=1_999)) == 1
    assert epoch_ms(EPOCH - timedelta(microseconds=1)) == -1  # floor, not toward zero
