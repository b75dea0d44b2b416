"""Billing rules (pure): postings always balance in whole fen, charges round up once per
attempt and never lose a millisecond, vouchers never pay more than any cap, posted prices
move boundedly towards the utilisation target, statements add up."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId
from suanli.domain.ledger import LedgerLine
from suanli.domain.market import Lane, PostedPrice
from suanli.domain.money import round_fen
from suanli.domain.standard import Sector, WorkloadClass
from suanli.domain.usage import UsageRecord
from suanli.domain.vouchers import Voucher, VoucherId
from suanli.logic.billing import charges, postings, statements
from suanli.logic.billing.posted_prices import PricingParams, next_price, target_price
from suanli.logic.billing.vouchers import apply_voucher

D = Decimal
T0 = datetime(2026, 6, 1, tzinfo=UTC)
fen = st.integers(0, 10**9).map(lambda n: D(n) / 100)
rate = st.integers(1, 10**7).map(lambda n: D(n) / 10_000)
share = st.integers(1, 10_000).map(lambda n: D(n) / 10_000)


@given(fen, fen, st.integers(0, 2000).map(lambda n: D(n) / 10_000))
def test_settlement_balances_in_whole_fen(
    charge: Decimal, hold: Decimal, fee_rate: Decimal
) -> None:
    if charge == 0 and hold == 0:
        return
    p = postings.settlement(
        "k",
        T0,
        TenantId("t"),
        ProviderId("p"),
        charge=charge,
        hold=hold,
        fee_rate=fee_rate,
        memo="m",
        refs={},
    )
    assert sum(e.amount for e in p.entries) == 0
    assert all(e.amount == round_fen(e.amount) for e in p.entries)


def record(start: datetime, ms: int, quantity: float = 2.0) -> UsageRecord:
    return UsageRecord(
        JobId("j"),
        1,
        TenantId("t"),
        ProviderId("p"),
        RegionId("r"),
        ClusterId("c"),
        NodeId("n"),
        Sector.OTHER,
        WorkloadClass.AI,
        "gpu:H100",
        quantity,
        start,
        start + timedelta(milliseconds=ms),
        ms,
    )


@given(st.integers(1, 10**8), rate)
def test_a_charge_rounds_up_once_and_is_never_free(ms: int, r: Decimal) -> None:
    exact = D(2) * D(ms) * r / D(3_600_000)
    charge = charges.attempt_charge([record(T0, ms)], "gpu:H100", r)
    assert exact <= charge < exact + D("0.01")
    assert charge >= D("0.01")  # however short


@given(st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**7))
def test_only_the_time_outside_the_reserved_window_is_charged(
    before: int, inside: int, after: int
) -> None:
    start = T0
    window_start = start + timedelta(milliseconds=before)
    window_end = window_start + timedelta(milliseconds=inside)
    total = before + inside + after
    assert (
        charges.outside_ms(start, start + timedelta(milliseconds=total), window_start, window_end)
        == before + after
    )


@given(st.integers(1, 16), rate, st.integers(1, 366 * 86_400))
def test_a_hold_covers_the_charge_of_an_attempt_within_its_limit(
    devices: int, r: Decimal, limit_s: int
) -> None:
    hold = charges.hold_amount(D(devices), r, limit_s)
    charge = charges.attempt_charge([record(T0, limit_s * 1000, float(devices))], "gpu:H100", r)
    assert charge <= hold


@given(share, fen, fen, fen, fen)
def test_a_voucher_pays_no_more_than_any_cap(
    s: Decimal, per_invoice: Decimal, per_year: Decimal, used: Decimal, amount: Decimal
) -> None:
    v = Voucher(
        VoucherId("v"), TenantId("t"), s, per_invoice, per_year, T0, T0 + timedelta(days=30)
    )
    applied = apply_voucher([v], {v.id: used}, amount, ProviderId("p"), T0 + timedelta(days=1))
    if applied is None:
        return
    _, paid = applied
    assert D(0) < paid <= min(round_fen(s * amount), per_invoice, per_year - used, amount)


def test_a_voucher_applies_only_within_its_dates_and_whitelist() -> None:
    v = Voucher(
        VoucherId("v"),
        TenantId("t"),
        D("0.2"),
        D(100),
        D(1000),
        T0,
        T0 + timedelta(days=30),
        (ProviderId("p1"),),
    )
    assert apply_voucher([v], {}, D(50), ProviderId("p1"), T0) == (v.id, D("10.00"))
    assert apply_voucher([v], {}, D(50), ProviderId("p2"), T0) is None
    assert apply_voucher([v], {}, D(50), ProviderId("p1"), T0 + timedelta(days=30)) is None
    assert apply_voucher([v], {}, D(50), ProviderId("p1"), T0 - timedelta(seconds=1)) is None


@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=30),
    st.integers(1, 10**6).map(lambda n: D(n) / 100),
)
def test_posted_prices_move_at_most_a_fifth_per_step_within_their_bounds(
    us: list[float], floor: Decimal
) -> None:
    params = PricingParams()
    previous: PostedPrice | None = None
    for u in us:
        price = next_price(
            previous, ClusterId("c"), "gpu:H100", floor, u, Lane.ON_DEMAND, T0, params
        )
        if previous is not None:
            assert abs(price.price - previous.price) <= previous.price * params.max_step + D(
                "0.0001"
            )
        assert floor - D("0.0001") <= price.price <= 2 * floor + D("0.0001")
        previous = price
    assert target_price(floor, 1.0, Lane.ON_DEMAND, params) == 2 * floor
    assert target_price(floor, 0.3, Lane.PREEMPTIBLE, params) == D("0.4") * floor


def test_a_statement_adds_up_and_renders_escaped_csv_and_html() -> None:
    lines = [
        LedgerLine(1, "deposit:t:1", T0, "deposit", "Deposit <bank>", "tenant:t:cash", D("100.00")),
        LedgerLine(
            2,
            "settle:j:1",
            T0 + timedelta(hours=1),
            "settle",
            "Job j attempt 1",
            "tenant:t:cash",
            D("-12.34"),
        ),
    ]
    s = statements.build("t", "Acme & Co", "2026-06", D("5.00"), lines)
    assert s.closing == D("92.66")
    rows = list(csv.reader(io.StringIO(statements.render_csv(s))))
    assert rows[0][:4] == ["date", "kind", "account", "amount_cny"] and rows[-1][4] == "92.66"
    page = statements.render_html(s)
    assert "Deposit &lt;bank&gt;" in page and "Acme &amp; Co" in page and "账单" in page
