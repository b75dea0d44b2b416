"""The ledger under random sequences of market actions (hypothesis), on a real store:
after every step the whole ledger sums to zero, every posting balances, no escrow is
negative, no tenant's cash is below minus its credit line, and replaying settlements
with the same keys changes nothing."""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from suanli.adapters.clock import ManualClock
from suanli.adapters.ids import RandomIds
from suanli.domain.errors import Conflict
from suanli.domain.ids import ClusterId, TenantId, UserId
from suanli.domain.ledger import tenant_cash, tenant_escrow
from suanli.domain.market import OrderStatus, parse_product
from suanli.domain.resources import Resources
from suanli.domain.tenancy import Principal, Role
from suanli.platform import Platform, PlatformConfig
from suanli.services.agents import NodeReport
from suanli.services.bootstrap import bootstrap_local
from suanli.services.vouchers import VoucherTerms

START = datetime(2026, 5, 1, 6, 0, tzinfo=UTC)
BLOCKS = [START + timedelta(hours=h) for h in (2, 3, 5)]
TENANTS = ("default", "t2")

KINDS = (
    "deposit",
    "deposit",
    "credit",
    "bid",
    "bid",
    "offer",
    "offer",
    "withdraw",
    "clear",
    "clear",
    "advance",
    "fail",
    "settle",
)


@dataclass(frozen=True)
class Step:
    kind: str
    tenant: str
    a: int
    b: int
    block: int


steps_strategy = st.lists(
    st.builds(
        Step,
        st.sampled_from(KINDS),
        st.sampled_from(TENANTS),
        st.integers(1, 50_000),
        st.integers(1, 900),
        st.integers(0, len(BLOCKS) - 1),
    ),
    min_size=6,
    max_size=24,
)


def check(plat: Platform, operator: Principal) -> None:
    result = plat.billing.check(operator)
    assert result.total == 0 and not result.unbalanced and not result.negative_escrow
    with plat.store.unit_of_work(readonly=True) as uow:
        for t in TENANTS:
            assert uow.ledger.balance(tenant_escrow(t)) >= 0
            assert uow.ledger.balance(tenant_cash(t)) >= -uow.ledger.credit(TenantId(t))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps_strategy)
def test_random_market_activity_keeps_the_ledger_balanced(steps: list[Step]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(START)
        plat = Platform(
            PlatformConfig(database_url=f"sqlite:///{Path(tmp) / 's.db'}", thin_market_sellers=1),
            clock=clock,
            ids=RandomIds(random.Random(3)),
        )
        try:
            run(plat, clock, steps)
        finally:
            plat.close()


def cny(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def run(plat: Platform, clock: ManualClock, steps: list[Step]) -> None:
    tokens = bootstrap_local(plat.store, clock, plat.ids, user="alice", previous=None)
    op = plat.auth.authenticate(tokens.operator)
    plat.agents.register(
        plat.auth.authenticate(tokens.agent),
        [NodeReport("n", Resources(16000, 65536, {}))],
        agent_version="t",
        known=[],
    )
    plat.accounts.add_tenant(op, TenantId("t2"), sector="industry", size="small")
    users = {t: Principal(TenantId(t), UserId(f"u-{t}"), Role.CONSUMER) for t in TENANTS}
    terms = VoucherTerms(TenantId("t2"), "0.3", "5", "20", START + timedelta(days=9))
    plat.vouchers.issue(op, terms)
    # a market to act in: both tenants funded, two devices offered for every block
    for t in TENANTS:
        plat.billing.deposit(op, TenantId(t), "300", reference="opening")
    for n, block in enumerate(BLOCKS):
        plat.exchange.post_offer(
            op,
            cluster_id=ClusterId("local"),
            model=None,
            start=block,
            hours=1,
            lane="reserved",
            devices=2,
            reserve=f"{1 + n}.00",
        )
    for i, step in enumerate(steps):
        block = BLOCKS[step.block]
        try:
            if step.kind == "deposit":
                plat.billing.deposit(op, TenantId(step.tenant), cny(step.a), reference=f"r{i}")
            elif step.kind == "credit":
                plat.billing.set_credit(op, TenantId(step.tenant), cny(step.a // 10))
            elif step.kind == "bid" and block > clock.now():
                key = f"cpu@any/{block:%Y-%m-%dT%H:00Z}+1h/reserved"
                plat.exchange.post_bid(
                    users[step.tenant],
                    unit="cpu",
                    quantity=str(1 + step.a % 30),
                    limit=cny(step.b),
                    products=[parse_product(key)],
                )
            elif step.kind == "offer" and block > clock.now():
                plat.exchange.post_offer(
                    op,
                    cluster_id=ClusterId("local"),
                    model=None,
                    start=block,
                    hours=1,
                    lane="reserved",
                    devices=1 + step.a % 4,
                    reserve=cny(step.b),
                )
            elif step.kind == "withdraw":
                with plat.store.unit_of_work(readonly=True) as uow:
                    open_bids = uow.market.list_bids(statuses=(OrderStatus.OPEN,))
                if open_bids:
                    bid = open_bids[step.a % len(open_bids)]
                    plat.exchange.withdraw_bid(users[bid.tenant_id], bid.id)
            elif step.kind == "clear":
                plat.exchange.clear(op)
            elif step.kind == "advance":
                clock.advance(600 + step.a % (4 * 3600))
            elif step.kind == "fail":
                for trade in plat.exchange.trades(op):
                    if trade.start <= clock.now() < trade.end and trade.failed_at is None:
                        with plat.store.unit_of_work() as uow:
                            uow.market.save_trade(replace(trade, failed_at=clock.now()))
                            uow.commit()
                        break
            elif step.kind == "settle":
                plat.exchange.run_once()
                after = plat.billing.check(op).postings
                plat.exchange.settle_blocks()  # a replay writes nothing
                assert plat.billing.check(op).postings == after
        except Conflict:
            pass  # refused (no funds, overlapping offers): it must have written nothing
        check(plat, op)
    clock.advance(10 * 3600)  # every block over: all settled, every hold released
    plat.exchange.run_once()
    check(plat, op)
    with plat.store.unit_of_work(readonly=True) as uow:
        trades = uow.market.list_trades()
        event("traded" if trades else "no trade")
        assert all(t.settled for t in trades)
        assert all(uow.ledger.balance(tenant_escrow(t)) == 0 for t in TENANTS)
