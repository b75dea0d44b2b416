"""The pool's and the queue's history: sampled from the real store (SQLite and PostgreSQL),
averaged into buckets in the database, purged after the retention period."""

from __future__ import annotations

import pytest

from suanli.adapters.clock import ManualClock
from suanli.domain.errors import Forbidden, InvalidInput
from suanli.domain.history import (
    MAX_POINTS,
    RAW,
    ROLLUP_S,
    PoolSample,
    QueueSample,
    history_step,
)
from suanli.domain.ids import UserId
from suanli.domain.tenancy import Principal, Role
from suanli.platform import Platform
from suanli.services.history import HistoryService
from tests.builders import World, spec, world


@pytest.fixture
def w(platform: Platform, clock: ManualClock) -> World:
    got = world(platform, clock)
    got.register(cpus=8, gpus={"H100": 4})
    return got


def _series(w: World, hours: float = 1.0) -> dict[tuple[str, str], list[tuple[int, float, float]]]:
    found = w.plat.history.read(w.user, hours=hours)
    return {(s.region_id, s.resource): list(s.points) for s in found.pool}


def test_a_sample_records_capacity_use_and_queue(w: World) -> None:
    running = w.plat.jobs.submit(w.user, spec("true", cpus=2, gpus={"H100": 3}))
    assert w.plat.scheduler.run_once().admitted == 1
    w.plat.jobs.submit(w.user, spec("true", cpus=1, gpus={"H100": 2}))  # waits: 1 free
    w.plat.scheduler.run_once()
    assert w.plat.history.sample() == 2  # cpu and gpu:H100 of the one region

    series = _series(w)
    ((region, _),) = {k for k in series if k[1] == "cpu"}
    assert series[(region, "gpu:H100")][0][1:] == (4.0, 3.0)
    assert series[(region, "cpu")][0][1:] == (8.0, 2.0)
    queue = w.plat.history.read(w.user, hours=1).queue
    assert [q[1:] for q in queue] == [(1.0, 1.0)]

    w.plat.jobs.cancel(w.user, running.id)
    w.clock.advance(60)
    w.plat.history.sample()
    points = _series(w)[(region, "gpu:H100")]
    assert len(points) == 2 and points[0][0] < points[1][0]


def test_buckets_average_and_stay_under_the_point_cap(w: World) -> None:
    start = int(w.clock.now().timestamp())
    # 1,500 minute samples (25 hours) written directly: pending 0, 1, 2, ... by minute
    with w.plat.store.unit_of_work() as uow:
        for i in range(1500):
            uow.history.add_samples([], QueueSample(start + 60 * i, i, 2 * i), ROLLUP_S)
        uow.commit()
    w.clock.advance(60 * 1500)
    found = w.plat.history.read(w.user, hours=24)
    assert found.step_s == 173  # ceil(86,400 s / 500)
    assert 490 <= len(found.queue) <= MAX_POINTS
    since_s = int(found.since.timestamp())
    for at, pending, running in found.queue:
        assert at >= since_s and running == pytest.approx(2 * pending)
        in_bucket = [i for i in range(1500) if at <= start + 60 * i < at + found.step_s]
        assert pending == pytest.approx(sum(in_bucket) / len(in_bucket))
    # samples before the span are left out
    assert found.queue[0][1] > 60


def test_one_instant_is_written_once(w: World) -> None:
    w.plat.history.sample()
    w.plat.history.sample()  # same clock: the second is a no-op, not a key violation
    assert len(w.plat.history.read(w.user, hours=1).queue) == 1


def test_maybe_sample_keeps_its_period_and_purges_old_samples(
    platform: Platform, clock: ManualClock
) -> None:
    w = world(platform, clock)
    w.register(cpus=2)
    history = HistoryService(platform.store, clock, period_s=60, keep_days=1)
    assert history.maybe_sample() == 1  # the first call samples
    clock.advance(30)
    assert history.maybe_sample() == 0
    clock.advance(30)
    assert history.maybe_sample() == 1
    clock.advance(2 * 86400)
    assert history.maybe_sample() == 1  # and, an hour having passed, purges
    found = history.read(w.user, hours=72)
    assert len(found.queue) == 1
    assert all(len(s.points) == 1 for s in found.pool)


def test_reading_needs_a_sane_span_and_pool_read(w: World) -> None:
    for hours in (0, -1, 24 * 31):
        with pytest.raises(InvalidInput) as err:
            w.plat.history.read(w.user, hours=hours)
        assert err.value.field == "hours"
    with pytest.raises(Forbidden):
        w.plat.history.read(Principal(None, UserId("agent"), Role.AGENT), hours=1)


def test_long_spans_read_rollups_averaged_like_the_raw_samples(w: World) -> None:
    # 3 days of minute samples of one GPU series whose use climbs by one device a minute
    start = int(w.clock.now().timestamp())
    start -= start % ROLLUP_S
    minutes = 3 * 1440
    with w.plat.store.unit_of_work() as uow:
        for i in range(minutes):
            at = start + 60 * i
            sample = PoolSample(at, "r1", "gpu:H100", 10_000.0, float(i))
            uow.history.add_samples([sample], QueueSample(at, i % 7, 1), ROLLUP_S)
        uow.commit()
    w.clock.advance(60 * minutes)
    raw = w.plat.history.read(w.user, hours=72)
    rolled = w.plat.history.read(w.user, hours=100)
    assert (raw.step_s, rolled.step_s) == (519, 1200)
    assert len(rolled.queue) <= MAX_POINTS
    (series,) = [s for s in rolled.pool if s.region_id == "r1"]
    # each 20-minute bucket holds minutes 20k .. 20k+19: mean use 20k + 9.5
    for at, total, used in series.points:
        first = (at - start) // 60
        assert total == pytest.approx(10_000.0)
        assert used == pytest.approx(first + 9.5)
    assert [q[2] for q in rolled.queue] == [pytest.approx(1.0)] * len(rolled.queue)
    # the raw read's buckets are means of the minutes in them too
    (raw_series,) = [s for s in raw.pool if s.region_id == "r1"]
    assert len(raw_series.points) <= MAX_POINTS
    for at, _, used in raw_series.points[1:]:
        minutes_in = [i for i in range(minutes) if at <= start + 60 * i < at + raw.step_s]
        assert used == pytest.approx(sum(minutes_in) / len(minutes_in))


def test_raw_samples_go_before_the_rollups(w: World) -> None:
    history = HistoryService(w.plat.store, w.clock, period_s=60, keep_days=30)
    history.sample()
    w.clock.advance(5 * 86400)
    history.sample()
    history.purge()
    with w.plat.store.unit_of_work(readonly=True) as uow:
        far = int(w.clock.now().timestamp()) - 6 * 86400
        now = int(w.clock.now().timestamp()) + 1
        raw = uow.history.queue_series(RAW, far, now, 60)
        rolled = uow.history.queue_series(ROLLUP_S, far, now, ROLLUP_S)
    assert len(raw) == 1 and len(rolled) == 2


def test_the_step_keeps_every_read_under_the_point_cap() -> None:
    for hours in (0.01, 1, 6, 24, 83, 84, 168, 500, 720):
        resolution, step = history_step(hours * 3600)
        assert step >= 60
        covered = hours * 3600 + 1 + (ROLLUP_S if resolution else 0)
        assert -(-covered // step) <= MAX_POINTS, hours
        assert resolution == RAW or step % ROLLUP_S == 0
