"""Billing properties beyond test_billing_rules.py: every posting builder balances in
whole fen for any amounts, fee, penalty rate and failure time; a charge split anywhere
costs the whole within a fen per part; reserved windows are counted like metering counts
time; a voucher never pays more than any cap and an exhausted voucher does not block the
next; posted prices keep their bounds, move boundedly and reach their target; statements
add up, and their CSV and HTML carry any memo intact."""

from __future__ import annotations

import csv
import html
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from suanli.domain.errors import Conflict
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId
from suanli.domain.ledger import (
    PLATFORM_REVENUE,
    TRADES_HELD,
    LedgerLine,
    Posting,
    provider_payable,
    tenant_cash,
    tenant_escrow,
    tenant_payable,
)
from suanli.domain.market import BidId, ClearingId, Lane, OfferId, PostedPrice, Trade, TradeId
from suanli.domain.money import RATE_STEP, round_fen
from suanli.domain.standard import Sector, WorkloadClass
from suanli.domain.usage import UsageRecord
from suanli.domain.vouchers import Voucher, VoucherId, VoucherUse
from suanli.logic.billing import charges, postings, statements
from suanli.logic.billing.posted_prices import PricingParams, next_price, target_price
from suanli.logic.billing.vouchers import apply_voucher, check_eligible, voucher_report
from suanli.logic.metering.attempts import whole_ms

D = Decimal
T0 = datetime(2026, 6, 1, tzinfo=UTC)
FEN = D("0.01")
TENANT = TenantId("t")
PROVIDER = ProviderId("p")

fen = st.integers(0, 10**9).map(lambda n: D(n) / 100)
positive_fen = st.integers(1, 10**9).map(lambda n: D(n) / 100)
rate = st.integers(1, 10**7).map(lambda n: D(n) / 10_000)
share = st.integers(0, 10_000).map(lambda n: D(n) / 10_000)
instant = st.integers(0, 30 * 86_400 * 10**6).map(lambda us: T0 + timedelta(microseconds=us))


def balanced(p: Posting) -> bool:
    return sum((e.amount for e in p.entries), D(0)) == 0 and all(
        e.amount == round_fen(e.amount) for e in p.entries
    )


def moves(p: Posting) -> dict[str, Decimal]:
    return {e.account: e.amount for e in p.entries}


# --- postings ---------------------------------------------------------------------------


@given(fen, fen, share)
def test_a_settlement_releases_the_hold_and_pays_provider_and_fee(
    charge: Decimal, hold: Decimal, fee_rate: Decimal
) -> None:
    assume(charge > 0 or hold > 0)
    p = postings.settlement(
        "k", T0, TENANT, PROVIDER, charge=charge, hold=hold, fee_rate=fee_rate, memo="", refs={}
    )
    assert balanced(p)
    m = moves(p)
    fee = round_fen(charge * fee_rate)
    assert m.get(tenant_escrow(TENANT), D(0)) == -hold
    assert m.get(PLATFORM_REVENUE, D(0)) == fee
    assert m.get(provider_payable(PROVIDER), D(0)) == charge - fee
    # the tenant's money (cash + escrow) goes down by exactly the charge
    assert m.get(tenant_cash(TENANT), D(0)) + m.get(tenant_escrow(TENANT), D(0)) == -charge


@given(positive_fen, st.sampled_from(["deposit", "hold", "release", "payout", "subsidy"]))
def test_single_amount_postings_move_the_amount_and_balance(amount: Decimal, kind: str) -> None:
    if kind == "payout":
        p = postings.payout("k", T0, PROVIDER, amount, "m", {})
    else:
        build = {
            "deposit": postings.deposit,
            "hold": postings.hold,
            "release": postings.release,
            "subsidy": postings.subsidy,
        }[kind]
        p = build("k", T0, TENANT, amount, "m", {})
    assert balanced(p) and p.kind == kind
    assert sorted(e.amount for e in p.entries) == [-amount, amount]


@given(fen, fen)
def test_a_trade_purchase_puts_the_amount_in_trades_and_settles_the_hold(
    amount: Decimal, held: Decimal
) -> None:
    assume(amount > 0 or held > 0)
    p = postings.trade_purchase("k", T0, TENANT, amount, held, "m", {})
    assert balanced(p)
    m = moves(p)
    assert m.get(TRADES_HELD, D(0)) == amount
    assert m.get(tenant_escrow(TENANT), D(0)) == -held


def trade(
    amount: Decimal, hours: int, failed_at: datetime | None, seller: TenantId | None
) -> Trade:
    return Trade(
        id=TradeId("tr-1"),
        clearing_id=ClearingId("cl-1"),
        bid_id=BidId("b-1"),
        offer_id=OfferId("o-1"),
        tenant_id=TENANT,
        provider_id=PROVIDER,
        cluster_id=ClusterId("c"),
        model="H100",
        region_id=RegionId("r"),
        start=T0,
        hours=hours,
        lane=Lane.RESERVED,
        device_hours=D(hours),
        units=D(hours),
        price=D(1),
        amount=amount,
        at=T0 - timedelta(days=1),
        seller_tenant=seller,
        failed_at=failed_at,
    )


@given(
    positive_fen,
    st.integers(1, 744),
    st.one_of(st.none(), st.integers(-(10**6), 745 * 3600 * 10**6)),
    share,
    share,
    st.sampled_from([None, TenantId("reseller")]),
)
def test_block_settlement_balances_and_refunds_the_undelivered_share(
    amount: Decimal,
    hours: int,
    failed_us: int | None,
    fee_rate: Decimal,
    penalty_rate: Decimal,
    seller: TenantId | None,
) -> None:
    failed_at = None if failed_us is None else T0 + timedelta(microseconds=failed_us)
    t = trade(amount, hours, failed_at, seller)
    ps = list(postings.block_settlement(t, fee_rate, penalty_rate, T0 + timedelta(hours=hours)))
    assert all(balanced(p) for p in ps)
    block = moves(ps[0])
    assert block[TRADES_HELD] == -amount  # platform:trades gives up the whole price
    refund = block.get(tenant_cash(TENANT), D(0))
    assert 0 <= refund <= amount
    seller_account = tenant_payable(seller) if seller else provider_payable(PROVIDER)
    delivered = amount - refund
    assert block.get(PLATFORM_REVENUE, D(0)) == round_fen(delivered * fee_rate)
    if failed_at is None or failed_at >= t.end:
        assert refund == 0
    elif failed_at <= t.start:
        assert refund == amount
        assert seller_account not in block
    else:
        exact = (
            amount * D((t.end - failed_at) // timedelta(microseconds=1)) / (hours * 3600 * 10**6)
        )
        assert abs(refund - exact) <= D("0.005")
    if failed_at is None:
        assert len(ps) == 1
    elif round_fen(amount * penalty_rate) > 0:
        assert moves(ps[1])[tenant_cash(TENANT)] == round_fen(amount * penalty_rate)


@given(positive_fen, st.integers(1, 48), st.integers(0, 48 * 3600), st.integers(1, 3600))
def test_a_later_failure_never_refunds_more(
    amount: Decimal, hours: int, failed_s: int, later_s: int
) -> None:
    def refund(s: int) -> Decimal:
        t = trade(amount, hours, T0 + timedelta(seconds=s), None)
        (p, *_) = postings.block_settlement(t, D("0.05"), D("0.1"), t.end)
        return moves(p).get(tenant_cash(TENANT), D(0))

    assert refund(failed_s + later_s) <= refund(failed_s)


# --- charges ----------------------------------------------------------------------------


def record(start: datetime, ms: int, quantity: float = 2.0, dim: str = "gpu:H100") -> UsageRecord:
    return UsageRecord(
        JobId("j"),
        1,
        TENANT,
        PROVIDER,
        RegionId("r"),
        ClusterId("c"),
        NodeId("n"),
        Sector.OTHER,
        WorkloadClass.AI,
        dim,
        quantity,
        start,
        start + timedelta(milliseconds=ms),
        ms,
    )


@given(
    st.integers(2, 10**9),
    st.data(),
    rate,
    st.sampled_from([0.5, 1.0, 2.0, 2.5, 8.0]),
)
def test_a_charge_split_anywhere_costs_the_whole_within_a_fen_per_part(
    total_ms: int, data: st.DataObject, r: Decimal, quantity: float
) -> None:
    cut = data.draw(st.integers(1, total_ms - 1))
    whole = charges.attempt_charge([record(T0, total_ms, quantity)], "gpu:H100", r)
    first = record(T0, cut, quantity)
    second = record(first.ended_at, total_ms - cut, quantity)
    a = charges.attempt_charge([first], "gpu:H100", r)
    b = charges.attempt_charge([second], "gpu:H100", r)
    assert whole <= a + b <= whole + 2 * FEN
    # both parts settled together are summed exactly and rounded once
    assert charges.attempt_charge([first, second], "gpu:H100", r) == whole


@given(rate, st.integers(1, 10**8))
def test_memory_and_other_models_are_not_charged(r: Decimal, ms: int) -> None:
    billed = [record(T0, ms)]
    extra = [
        record(T0, ms, 4096.0, "memory"),
        record(T0, ms, 8.0, "cpu"),
        record(T0, ms, 1.0, "gpu:A100"),
    ]
    assert charges.attempt_charge(billed + extra, "gpu:H100", r) == charges.attempt_charge(
        billed, "gpu:H100", r
    )


@given(instant, instant, instant, instant)
def test_time_inside_and_outside_a_window_adds_up_as_metering_counts_it(
    a: datetime, b: datetime, w1: datetime, w2: datetime
) -> None:
    start, end = min(a, b), max(a, b)
    ws, we = min(w1, w2), max(w1, w2)
    total = charges.outside_ms(start, end, None, None)
    assert total == whole_ms(start, end)
    outside = charges.outside_ms(start, end, ws, we)
    inside = charges.outside_ms(start, end, None, None) - outside
    assert 0 <= outside <= total
    if ws <= start and end <= we:
        assert outside == 0
    if we <= start or end <= ws:
        assert inside == 0


@given(st.integers(1, 10**8), st.integers(0, 10**8), rate)
def test_a_window_only_ever_lowers_a_charge(ms: int, offset_ms: int, r: Decimal) -> None:
    rec = record(T0, ms)
    ws = T0 + timedelta(milliseconds=offset_ms)
    covered = charges.attempt_charge([rec], "gpu:H100", r, ws, ws + timedelta(hours=1))
    assert covered <= charges.attempt_charge([rec], "gpu:H100", r)
    assert charges.attempt_charge([rec], "gpu:H100", r, T0, rec.ended_at) == 0


def test_far_dates_count_milliseconds_exactly() -> None:
    late = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    start = late - timedelta(milliseconds=5)
    assert charges.outside_ms(start, late, None, None) == whole_ms(start, late) == 5


@given(st.integers(1, 64), rate, st.integers(1, 86_400), st.integers(0, 86_400))
def test_a_longer_limit_never_holds_less(units: int, r: Decimal, seconds: int, more: int) -> None:
    short = charges.hold_amount(D(units), r, seconds)
    assert short == short.quantize(FEN) and short > 0
    assert charges.hold_amount(D(units), r, seconds + more) >= short


# --- vouchers ---------------------------------------------------------------------------


def voucher(
    vid: str,
    s: Decimal,
    per_invoice: Decimal,
    per_year: Decimal,
    days: int,
    providers: tuple[ProviderId, ...] = (),
) -> Voucher:
    return Voucher(
        VoucherId(vid), TENANT, s, per_invoice, per_year, T0, T0 + timedelta(days=days), providers
    )


voucher_terms = st.tuples(
    st.integers(1, 10_000).map(lambda n: D(n) / 10_000),
    st.integers(1, 10**7).map(lambda n: D(n) / 10_000),  # caps to 0.0001: not always fen
    st.integers(1, 10**7).map(lambda n: D(n) / 10_000),
    st.integers(2, 400),
    st.integers(0, 10**6).map(lambda n: D(n) / 100),
)


@given(st.lists(voucher_terms, min_size=1, max_size=5), fen)
def test_a_voucher_pays_whole_fen_within_every_cap_and_none_that_pays_is_skipped(
    terms: list[tuple[Decimal, Decimal, Decimal, int, Decimal]], amount: Decimal
) -> None:
    vs = [voucher(f"v-{i}", s, pi, py, days) for i, (s, pi, py, days, _) in enumerate(terms)]
    used = {v.id: t[4] for v, t in zip(vs, terms, strict=True)}
    at = T0 + timedelta(days=1)
    applied = apply_voucher(vs, used, amount, PROVIDER, at)

    def pays(v: Voucher) -> bool:
        left = v.cap_per_year - used[v.id]
        return min(round_fen(v.share * amount), v.cap_per_invoice, left, amount) >= FEN

    payers = [v for v in vs if pays(v)]
    if not payers:
        assert applied is None
        return
    assert applied is not None
    vid, paid = applied
    v = next(v for v in vs if v.id == vid)
    assert paid == paid.quantize(FEN) and paid >= FEN
    assert paid <= min(round_fen(v.share * amount), v.cap_per_invoice, amount)
    assert paid <= v.cap_per_year - used[v.id]
    # the soonest-expiring voucher that pays, ties by id
    assert (v.expires_at, v.id) == min((p.expires_at, p.id) for p in payers)


def test_an_exhausted_voucher_does_not_block_the_next() -> None:
    soon = voucher("v-soon", D("0.5"), D(100), D(100), 10)
    later = voucher("v-later", D("0.5"), D(100), D(1000), 100)
    at = T0 + timedelta(days=1)
    assert apply_voucher([soon, later], {soon.id: D(100)}, D(50), PROVIDER, at) == (
        later.id,
        D("25.00"),
    )


def test_a_voucher_outside_its_whitelist_or_revoked_pays_nothing() -> None:
    v = voucher("v-w", D("0.2"), D(100), D(1000), 30, (ProviderId("p1"),))
    assert apply_voucher([v], {}, D(50), None, T0) is None
    revoked = replace(v, revoked_at=T0)
    assert apply_voucher([revoked], {}, D(50), ProviderId("p1"), T0) is None


def test_a_voucher_to_new_year_lapses_with_what_it_left_that_year() -> None:
    v = Voucher(
        VoucherId("v-y"), TENANT, D("0.5"), D(100), D(1000), T0, datetime(2027, 1, 1, tzinfo=UTC)
    )
    uses = [VoucherUse(v.id, "inv", TENANT, D(600), datetime(2026, 7, 1, tzinfo=UTC))]
    (row,) = voucher_report([v], uses, {TENANT: "industry"}, datetime(2027, 2, 1, tzinfo=UTC))
    assert (row.sector, row.expired, row.expired_unused, row.used) == (
        "industry",
        1,
        D(400),
        D(600),
    )


def test_eligibility_admits_any_when_open_and_says_why_not() -> None:
    check_eligible("industry", "small", set(), set())
    check_eligible("industry", "small", {"industry"}, {"small", "micro"})
    with pytest.raises(Conflict) as err:
        check_eligible("finance", "small", {"industry"}, set())
    assert "finance" in err.value.message and err.value.hint
    with pytest.raises(Conflict):
        check_eligible("industry", "large", set(), {"small"})


# --- posted prices ----------------------------------------------------------------------

floor_st = st.integers(1, 10**6).map(lambda n: D(n) / 10_000)


@given(
    floor_st,
    st.lists(st.floats(-0.5, 1.5, allow_nan=False), min_size=1, max_size=40),
    st.sampled_from([Lane.ON_DEMAND, Lane.PREEMPTIBLE]),
)
def test_posted_prices_keep_their_bounds_and_move_boundedly(
    floor: Decimal, us: list[float], lane: Lane
) -> None:
    params = PricingParams()
    low, high = (
        (floor, 2 * floor) if lane is Lane.ON_DEMAND else (D("0.4") * floor, D("0.8") * floor)
    )
    previous: PostedPrice | None = None
    for u in us:
        p = next_price(previous, ClusterId("c"), "gpu:H100", floor, u, lane, T0, params)
        assert p.price == p.price.quantize(RATE_STEP)
        assert low - RATE_STEP <= p.price <= high + RATE_STEP
        if previous is not None:
            assert abs(p.price - previous.price) <= previous.price * params.max_step + RATE_STEP
        previous = p


@given(floor_st, floor_st, st.floats(0, 1, allow_nan=False))
def test_a_posted_price_reaches_its_target(start: Decimal, floor: Decimal, u: float) -> None:
    params = PricingParams()
    previous = next_price(None, ClusterId("c"), "cpu", start, 0.0, Lane.ON_DEMAND, T0, params)
    target = target_price(floor, u, Lane.ON_DEMAND, params).quantize(RATE_STEP)
    for _ in range(400):
        previous = next_price(previous, ClusterId("c"), "cpu", floor, u, Lane.ON_DEMAND, T0, params)
    assert previous.price == target


def test_a_posted_price_refuses_nan_and_the_reserved_lane() -> None:
    with pytest.raises(ValueError, match="NaN"):
        target_price(D(1), float("nan"), Lane.ON_DEMAND, PricingParams())
    with pytest.raises(ValueError, match="reserved"):
        target_price(D(1), 0.5, Lane.RESERVED, PricingParams())


# --- statements -------------------------------------------------------------------------

memo_st = st.text(max_size=40)
line_st = st.tuples(
    st.integers(0, 30 * 86_400),
    st.sampled_from(["deposit", "hold", "release", "settle", "trade", "block", "subsidy"]),
    memo_st,
    st.sampled_from(["tenant:t:cash", "tenant:t:escrow"]),
    st.integers(-(10**8), 10**8).map(lambda n: D(n) / 100),
)


@given(
    st.integers(-(10**8), 10**8).map(lambda n: D(n) / 100), st.lists(line_st, max_size=20), memo_st
)
def test_a_statement_adds_up_and_its_csv_and_html_carry_every_memo(
    opening: Decimal,
    raw: list[tuple[int, str, str, str, Decimal]],
    name: str,
) -> None:
    lines = [
        LedgerLine(i, f"k{i}", T0 + timedelta(seconds=s), kind, memo, account, amount)
        for i, (s, kind, memo, account, amount) in enumerate(sorted(raw, key=lambda r: r[0]))
    ]
    s = statements.build("t", name, "2026-06", opening, lines)
    assert s.closing == opening + sum((ln.amount for ln in lines), D(0))
    assert sum(s.totals().values(), D(0)) == s.closing - opening

    rows = list(csv.reader(io.StringIO(statements.render_csv(s), newline="")))
    header, first, *body, last = rows
    assert header[:5] == ["date", "kind", "account", "amount_cny", "balance_cny"]
    assert D(first[4]) == opening and D(last[4]) == s.closing
    assert len(body) == len(lines)
    balance = opening
    for row, ln in zip(body, lines, strict=True):
        balance += ln.amount
        assert (D(row[3]), D(row[4]), row[5], row[1]) == (ln.amount, balance, ln.memo, ln.kind)

    page = statements.render_html(s)
    assert "账单" in page and "Statement" in page
    for ln in lines:
        assert html.escape(ln.memo) in page
    assert html.escape(name) in page


def test_a_statement_page_is_self_contained_and_escapes_markup() -> None:
    line = LedgerLine(1, "k", T0, "deposit", '<img src="x"> & 充值', "tenant:t:cash", D(5))
    page = statements.render_html(statements.build("t", "<b>Acme</b>", "2026-06", D(0), [line]))
    assert "&lt;img src=&quot;x&quot;&gt; &amp; 充值" in page and "<img" not in page
    assert "&lt;b&gt;Acme&lt;/b&gt;" in page
    for external in ("<script", "<link", "http://", "https://", "@import"):
        assert external not in page
