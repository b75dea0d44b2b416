"""The exchange and the ledger through the services, on SQLite and PostgreSQL: holds,
clearing, payments, lapses, block settlement with refunds and penalties, idempotence,
and clear errors that write nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from suanli.adapters.clock import ManualClock
from suanli.domain.errors import Conflict, Forbidden, InsufficientFunds, InvalidInput
from suanli.domain.ids import ClusterId, ProviderId, TenantId
from suanli.domain.jobs import JobSpec, JobStatus, PriorityClass
from suanli.domain.ledger import PLATFORM_REVENUE, TRADES_HELD, provider_payable
from suanli.domain.market import OrderStatus, parse_product
from suanli.domain.resources import Resources
from suanli.logic.billing import postings as postings_of
from suanli.platform import Platform
from suanli.services.billing import MoneyPolicy, settle_attempt
from suanli.services.exchange import ExchangeService
from tests.builders import World, spec, world

D = Decimal
BLOCK = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)  # the clock starts at 08:00
KEY = "cpu@local/2026-03-01T10:00Z+2h/reserved"


@pytest.fixture
def w(platform: Platform, clock: ManualClock) -> World:
    wd = world(platform, clock)
    wd.register(cpus=8)
    # one provider here: without trade reduction, so that one seller's block trades
    platform.exchange = ExchangeService(platform.store, clock, platform.ids, thin_market_sellers=1)
    return wd


def offer(w: World, devices: int = 4, reserve: str = "2.00") -> str:
    o = w.plat.exchange.post_offer(
        w.operator,
        cluster_id=ClusterId("local"),
        model=None,
        start=BLOCK,
        hours=2,
        lane="reserved",
        devices=devices,
        reserve=reserve,
    )
    return o.id


def bid(w: World, quantity: str, limit: str, key: str = KEY) -> str:
    b = w.plat.exchange.post_bid(
        w.user, unit="cpu", quantity=quantity, limit=limit, products=[parse_product(key)]
    )
    return b.id


def cash(w: World) -> Decimal:
    return w.plat.billing.balance(w.user).cash


def test_a_bid_needs_funds_and_a_refused_one_writes_nothing(w: World) -> None:
    with pytest.raises(InsufficientFunds) as err:
        bid(w, "4", "5.00")
    assert "deposit" in (err.value.hint or "")
    assert w.plat.exchange.book(w.user).own_bids == []
    assert w.plat.billing.check(w.operator).postings == 0
    w.plat.billing.deposit(w.operator, TenantId("default"), "100.00", reference="bank-1")
    bid(w, "4", "5.00")
    balance = w.plat.billing.balance(w.user)
    assert (balance.cash, balance.escrow) == (D("80.00"), D("20.00"))


def test_a_deposit_is_idempotent_by_reference(w: World) -> None:
    for _ in range(3):
        w.plat.billing.deposit(w.operator, TenantId("default"), "50", reference="bank-7")
    assert cash(w) == D("50.00")


def test_money_must_be_decimal_text_not_float(w: World) -> None:
    with pytest.raises(InvalidInput, match="not a binary float"):
        w.plat.billing.deposit(w.operator, TenantId("default"), 1.5, reference="x")  # type: ignore[arg-type]


def test_clearing_pays_trades_from_the_hold_and_releases_the_rest(w: World) -> None:
    w.plat.billing.deposit(w.operator, TenantId("default"), "100.00", reference="b")
    offer(w, devices=4, reserve="2.00")  # 8 core-hours
    bid_id = bid(w, "10", "5.00")  # wants 10: partly filled, so its limit sets the price
    clearing = w.plat.exchange.clear(w.operator)
    assert clearing.prices == {KEY: D("5.0000")}
    (trade,) = w.plat.exchange.trades(w.user)
    assert (trade.device_hours, trade.price, trade.amount) == (D(8), D(5), D("40.00"))
    # the bid stays open for its last 2 core-hours, holding exactly their cost
    (open_bid,) = w.plat.exchange.book(w.user).own_bids
    assert open_bid.id == bid_id and open_bid.held == D("10.00")
    balance = w.plat.billing.balance(w.user)
    assert (balance.cash, balance.escrow) == (D("50.00"), D("10.00"))
    # the block begins: the bid lapses and its hold comes back
    w.clock.advance(2 * 3600)
    w.plat.exchange.run_once()
    assert w.plat.billing.balance(w.user).escrow == 0
    assert cash(w) == D("60.00")
    check = w.plat.billing.check(w.operator)
    assert check.ok, check


def test_a_delivered_block_pays_the_provider_less_the_fee_once(w: World) -> None:
    w.plat.billing.deposit(w.operator, TenantId("default"), "100.00", reference="b")
    offer(w, devices=4, reserve="2.00")
    bid(w, "10", "5.00")
    w.plat.exchange.clear(w.operator)
    w.clock.advance(4 * 3600 + 1)  # past the block's end
    for _ in range(2):
        w.plat.exchange.run_once()
    with w.plat.store.unit_of_work(readonly=True) as uow:
        assert uow.ledger.balance(provider_payable("local")) == D("38.00")
        assert uow.ledger.balance(PLATFORM_REVENUE) == D("2.00")
        assert uow.ledger.balance(TRADES_HELD) == 0
    assert w.plat.billing.check(w.operator).ok


def test_a_failed_block_refunds_the_undelivered_part_and_a_penalty(w: World) -> None:
    w.plat.billing.deposit(w.operator, TenantId("default"), "100.00", reference="b")
    offer(w, devices=4, reserve="2.00")
    bid(w, "10", "5.00")
    w.plat.exchange.clear(w.operator)
    (trade,) = w.plat.exchange.trades(w.user)
    failed_at = BLOCK + timedelta(minutes=30)  # a quarter into the 2-hour block
    with w.plat.store.unit_of_work() as uow:
        from dataclasses import replace

        uow.market.save_trade(replace(trade, failed_at=failed_at))
        uow.commit()
    w.clock.advance(4 * 3600 + 1)
    w.plat.exchange.run_once()
    # 40.00 paid (the lapsed bid gave back 10.00: cash 60.00); 3/4 undelivered -> 30.00
    # back, and 10% of 40.00 = 4.00 penalty
    assert cash(w) == D("60.00") + D("30.00") + D("4.00")
    with w.plat.store.unit_of_work(readonly=True) as uow:
        # the provider is paid for the delivered quarter less the fee, less the penalty
        assert uow.ledger.balance(provider_payable("local")) == D("10.00") - D("0.50") - D("4.00")
    assert w.plat.billing.check(w.operator).ok


def test_only_the_operator_clears_and_consumers_cannot_offer(w: World) -> None:
    with pytest.raises(Forbidden):
        w.plat.exchange.clear(w.user)
    with pytest.raises(Forbidden):
        w.plat.exchange.post_offer(
            w.user,
            cluster_id=ClusterId("local"),
            model=None,
            start=BLOCK,
            hours=2,
            lane="reserved",
            devices=1,
            reserve="1",
        )


def test_offers_cannot_exceed_the_cluster(w: World) -> None:
    offer(w, devices=6)
    with pytest.raises(Conflict, match="already offered"):
        offer(w, devices=3)
    with pytest.raises(InvalidInput, match="future"):
        w.plat.exchange.post_offer(
            w.operator,
            cluster_id=ClusterId("local"),
            model=None,
            start=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
            hours=1,
            lane="reserved",
            devices=1,
            reserve="1",
        )


def test_withdrawing_a_bid_releases_its_hold(w: World) -> None:
    w.plat.billing.deposit(w.operator, TenantId("default"), "30", reference="b")
    bid_id = bid(w, "4", "5.00")
    w.plat.exchange.withdraw_bid(w.user, bid_id)  # type: ignore[arg-type]
    assert cash(w) == D("30.00")
    with pytest.raises(Conflict):
        w.plat.exchange.withdraw_bid(w.user, bid_id)  # type: ignore[arg-type]
    with w.plat.store.unit_of_work(readonly=True) as uow:
        assert {b.status for b in uow.market.list_bids()} == {OrderStatus.WITHDRAWN}


def test_a_lone_seller_is_withheld_by_trade_reduction(
    platform: Platform, clock: ManualClock
) -> None:
    w = world(platform, clock)
    w.register(cpus=8)
    w.plat.billing.deposit(w.operator, TenantId("default"), "100.00", reference="b")
    offer(w, devices=4, reserve="2.00")
    bid(w, "10", "5.00")
    clearing = w.plat.exchange.clear(w.operator)
    assert clearing.reduced == (KEY,) and clearing.trades == 0
    assert w.plat.exchange.trades(w.user) == []
    assert w.plat.billing.balance(w.user).escrow == D("50.00")  # still bidding


def test_a_job_on_a_priced_cluster_waits_for_funds_then_pays_for_what_it_used(
    w: World,
) -> None:
    w.plat.pool.set_cluster_price(w.operator, ClusterId("local"), 3.6)  # 0.001 CNY per core-s
    job = w.plat.jobs.submit(w.user, spec("true", cpus=2, time_limit_s=600))
    w.plat.scheduler.run_once()
    waiting = w.plat.jobs.get(w.user, job.id).job
    assert waiting.status is JobStatus.PENDING
    assert "Waiting for funds" in waiting.reason and "1.20 CNY" in waiting.reason  # 2x3.6x600s
    w.plat.billing.deposit(w.operator, TenantId("default"), "5", reference="b")
    w.plat.scheduler.run_once()
    assert w.plat.jobs.get(w.user, job.id).job.status is JobStatus.SCHEDULED
    assert w.plat.billing.balance(w.user).escrow == D("1.20")
    w.plat.agents.claim(w.agent, 10)
    w.run(job.id, seconds=100.25)
    # 2 cores x 100.250 s x 3.6 CNY per core-hour = 0.2005 -> rounded up: 0.21
    balance = w.plat.billing.balance(w.user)
    assert (balance.cash, balance.escrow) == (D("4.79"), D("0.00"))
    with w.plat.store.unit_of_work(readonly=True) as uow:
        assert uow.ledger.balance(provider_payable("local")) == D("0.21") - D("0.01")
    postings = w.plat.billing.check(w.operator).postings
    with w.plat.store.unit_of_work() as uow:  # a replayed settlement changes nothing
        (attempt,) = uow.jobs.list_attempts(job.id)
        stored = uow.jobs.get(job.id)
        assert stored is not None
        settle_attempt(
            uow, stored, attempt, uow.usage.for_job(job.id), w.clock.now(), MoneyPolicy()
        )
        uow.ledger.post(  # and a posting under a used key is refused, writing nothing
            postings_of.settlement(
                f"settle:{job.id}:1",
                w.clock.now(),
                TenantId("default"),
                ProviderId("local"),
                charge=D("9.99"),
                hold=D(0),
                fee_rate=D("0.05"),
                memo="replay",
                refs={},
            )
        )
        uow.commit()
    assert w.plat.billing.check(w.operator).postings == postings
    assert w.plat.billing.balance(w.user).cash == D("4.79")


def test_reserved_capacity_is_held_for_its_buyer_and_backfilled_only_preemptibly(
    w: World,
) -> None:
    other = w.plat.auth.authenticate(w.new_consumer("other"))
    w.plat.billing.deposit(w.operator, TenantId("default"), "100", reference="b")
    offer(w, devices=6, reserve="1.00")  # 6 of the 8 cores, 10:00-12:00
    bid(w, "12", "2.00")  # all of it
    w.plat.exchange.clear(w.operator)
    w.clock.advance(2 * 3600 + 60)  # 10:01, inside the block
    blocked = w.plat.jobs.submit(other, spec("true", cpus=4))
    w.plat.scheduler.run_once()
    job = w.plat.jobs.get(other, blocked.id).job
    assert job.status is JobStatus.PENDING and "reserved for other tenants" in job.reason
    backfill = w.plat.jobs.submit(
        other,
        JobSpec.create(
            command=["true"],
            resources=Resources.request(cpus=4),
            priority_class=PriorityClass.PREEMPTIBLE,
        ),
    )
    w.plat.scheduler.run_once()
    assert w.plat.jobs.get(other, backfill.id).job.status is JobStatus.SCHEDULED
    own = w.plat.jobs.submit(w.user, spec("true", cpus=2, time_limit_s=600))
    w.plat.scheduler.run_once()
    assert w.plat.jobs.get(w.user, own.id).job.status is JobStatus.SCHEDULED
    with w.plat.store.unit_of_work(readonly=True) as uow:
        hold = uow.ledger.get_hold(own.id, 1)
    assert hold is None  # unpriced cluster: nothing to hold, and the block covers it anyway


def test_a_resold_block_pays_its_reseller_and_moves_the_reservation(w: World) -> None:
    buyer = w.plat.auth.authenticate(w.new_consumer("buyer"))
    w.plat.billing.deposit(w.operator, TenantId("default"), "100", reference="b")
    w.plat.billing.deposit(w.operator, TenantId("buyer"), "100", reference="b")
    offer(w, devices=2, reserve="1.00")  # 4 core-hours
    bid(w, "6", "2.00")  # more than offered: its limit sets the price
    w.plat.exchange.clear(w.operator)  # default buys at 2.00: 8.00
    (won,) = w.plat.exchange.trades(w.user)
    resale = w.plat.exchange.resell(w.user, won.id, "3.00")
    assert (resale.devices, resale.seller_tenant) == (2, "default")
    w.plat.exchange.post_bid(
        buyer, unit="cpu", quantity="6", limit="5.00", products=[parse_product(KEY)]
    )
    w.plat.exchange.clear(w.operator)
    (bought,) = w.plat.exchange.trades(buyer)
    assert (bought.price, bought.amount, bought.seller_tenant) == (D(5), D("20.00"), "default")
    w.clock.advance(4 * 3600 + 1)
    w.plat.exchange.run_once()
    # the reseller is owed the resale less the 5% fee; the provider got its first sale
    assert w.plat.billing.balance(w.user).payable == D("20.00") - D("1.00")
    with w.plat.store.unit_of_work(readonly=True) as uow:
        assert uow.ledger.balance(provider_payable("local")) == D("8.00") - D("0.40")
    assert w.plat.billing.check(w.operator).ok


def test_a_free_block_clears_and_settles_without_moving_money(w: World) -> None:
    w.plat.billing.deposit(w.operator, TenantId("default"), "10", reference="b")
    offer(w, devices=1, reserve="0")  # donated: 2 core-hours at no reserve
    bid(w, "1", "1.00")  # less than offered: the reserve sets the price, 0
    clearing = w.plat.exchange.clear(w.operator)
    (trade,) = w.plat.exchange.trades(w.user)
    assert (trade.price, trade.amount, clearing.prices[KEY]) == (D(0), D(0), D(0))
    w.clock.advance(4 * 3600 + 1)
    w.plat.exchange.run_once()
    assert w.plat.billing.check(w.operator).ok
    assert w.plat.billing.balance(w.user).escrow == 0


def test_concurrent_clearings_never_sell_an_offer_twice(w: World) -> None:
    import threading

    w.plat.billing.deposit(w.operator, TenantId("default"), "100.00", reference="b")
    offer(w, devices=4, reserve="2.00")
    bid(w, "10", "5.00")
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def clear() -> None:
        barrier.wait()
        try:
            w.plat.exchange.clear(w.operator)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=clear) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    (trade,) = w.plat.exchange.trades(w.user)  # one trade: the others found it sold
    assert trade.device_hours == D(8)
    assert w.plat.billing.check(w.operator).ok
    assert w.plat.billing.balance(w.user).escrow == D("10.00")
