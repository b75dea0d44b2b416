"""Reliability from heartbeat uptime and attempt outcomes, through the real store (SQLite
and PostgreSQL): an outage is recorded when the dispatcher finds a cluster silent past its
deadline and closed when its agent is back; `suanli pool` and the scheduler see it."""

from __future__ import annotations

import pytest

from suanli.adapters.clock import ManualClock
from suanli.domain.pool import ClusterState
from suanli.logic.reliability import NEW_CLUSTER_SCORE
from suanli.platform import Platform
from suanli.services.scheduler import read_slow_inputs
from tests.builders import World, world


@pytest.fixture
def w(platform: Platform, clock: ManualClock) -> World:
    return world(platform, clock)


def test_an_outage_lowers_uptime_and_reliability_until_it_ages_out(w: World) -> None:
    w.register(cpus=2)
    (fresh,) = w.plat.pool.clusters(w.operator)
    assert fresh.uptime == 1.0 and fresh.reliability == pytest.approx(NEW_CLUSTER_SCORE)
    # a day of service, then silence: the dispatcher declares it unreachable at 20 s
    w.clock.advance(86_400)
    w.plat.agents.heartbeat(w.agent, [])
    w.clock.advance(20)
    assert w.plat.dispatcher.run_once().unreachable == 1
    (down,) = w.plat.pool.clusters(w.operator)
    assert down.cluster.state is ClusterState.UNREACHABLE
    # the outage counts from its last heartbeat, and lasts while it is open
    w.clock.advance(3 * 3600 - 20)
    (still,) = w.plat.pool.clusters(w.operator)
    assert still.uptime == pytest.approx(1 - 3 * 3600 / (86_400 + 3 * 3600))
    w.plat.agents.heartbeat(w.agent, [])  # back after 3 h
    w.clock.advance(3600)
    (back,) = w.plat.pool.clusters(w.operator)
    total = 86_400 + 4 * 3600
    assert back.uptime == pytest.approx(1 - 3 * 3600 / total)
    assert back.reliability == pytest.approx(back.uptime * NEW_CLUSTER_SCORE)
    # the scheduler ranks placements with the same score
    with w.plat.store.unit_of_work(readonly=True) as uow:
        slow = read_slow_inputs(uow, w.clock.now(), 7 * 86_400)
    assert slow.reliability[back.cluster.id] == pytest.approx(back.reliability)
    # the provider's score is its clusters'
    assert w.plat.pool.provider_reliability(w.operator) == {
        "local": pytest.approx(back.reliability)
    }
    # after a week the outage has left the window
    w.clock.advance(8 * 86_400)
    w.plat.agents.heartbeat(w.agent, [])
    (later,) = w.plat.pool.clusters(w.operator)
    assert later.uptime == 1.0


def test_a_re_registering_agent_closes_the_outage(w: World) -> None:
    w.register(cpus=2)
    w.clock.advance(20)
    assert w.plat.dispatcher.run_once().unreachable == 1
    w.clock.advance(100)
    w.register(cpus=2)
    w.clock.advance(880)
    (c,) = w.plat.pool.clusters(w.operator)
    # registered 1,000 s ago, silent from 0 to 120 s (its registration was its last sign)
    assert c.uptime == pytest.approx(1 - 120 / 1000)
