"""The call auction on random markets (hypothesis): every clearing price lies between
the matched bids and asks, nobody pays above its limit or receives below its reserve,
buyers' payments equal sellers' receipts, no order is overfilled, the LP's welfare is at
least the greedy match's and equals an independent full LP's optimum; and hand-checked
markets (one seller one buyer, an SCH bid routed to the cheaper standard compute, a
thin market reduced, ties by arrival)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from suanli.domain.money import round_fen
from suanli.logic.exchange.auction import AuctionBid, AuctionOffer, clear
from suanli.logic.exchange.fills import conversion, to_money
from suanli.logic.exchange.greedy import greedy

D = Decimal
PRODUCTS = ("p0", "p1", "p2")
prices = st.integers(1, 4000).map(lambda n: n / 100)


@st.composite
def markets(draw: st.DrawFn) -> tuple[list[AuctionBid], list[AuctionOffer]]:
    offers = [
        AuctionOffer(
            f"o{i}",
            draw(st.sampled_from(PRODUCTS)),
            f"s{draw(st.integers(0, 3))}",
            float(draw(st.integers(1, 20))),
            draw(prices),
        )
        for i in range(draw(st.integers(1, 8)))
    ]
    bids = []
    for i in range(draw(st.integers(1, 10))):
        accepted = draw(st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3, unique=True))
        sch = draw(st.booleans())
        accept = {
            p: (float(conversion(draw(st.floats(0.1, 2.0)))) if sch else 1.0) for p in accepted
        }
        bids.append(
            AuctionBid(f"b{i}", f"t{i}", float(draw(st.integers(1, 30))), draw(prices), accept)
        )
    return bids, offers


def full_lp_welfare(bids: list[AuctionBid], offers: list[AuctionOffer]) -> float:
    """The same market as one dense LP, without pruning or column generation."""
    cols = [(bi, p, c) for bi, b in enumerate(bids) for p, c in b.accept.items()]
    nx, ny = len(cols), len(offers)
    cost = [-bids[bi].limit * c for bi, _, c in cols] + [o.reserve for o in offers]
    rows, rhs = [], []
    for p in PRODUCTS:
        rows.append(
            [1.0 if cp == p else 0.0 for _, cp, _ in cols]
            + [-1.0 if o.product == p else 0.0 for o in offers]
        )
        rhs.append(0.0)
    for bi, b in enumerate(bids):
        rows.append([c if cb == bi else 0.0 for cb, _, c in cols] + [0.0] * ny)
        rhs.append(b.quantity)
    bounds = [(0, None)] * nx + [(0, o.quantity) for o in offers]
    res = linprog(cost, A_ub=np.asarray(rows), b_ub=rhs, bounds=bounds, method="highs")
    return float(-res.fun)


@settings(max_examples=150, deadline=None)
@given(markets())
def test_clearing_is_optimal_rational_and_balanced(
    market: tuple[list[AuctionBid], list[AuctionOffer]],
) -> None:
    bids, offers = market
    result = clear(bids, offers, thin_market_sellers=1)
    assert abs(result.welfare - full_lp_welfare(bids, offers)) <= 1e-6 * max(1.0, result.welfare)
    assert result.welfare >= greedy(bids, offers).welfare - 1e-6
    fills = to_money(
        result,
        limits={b.id: D(repr(b.limit)) for b in bids},
        reserves={o.id: D(repr(o.reserve)) for o in offers},
        conversions={b.id: {p: conversion(c) for p, c in b.accept.items()} for b in bids},
    )
    by_bid = {b.id: b for b in bids}
    by_offer = {o.id: o for o in offers}
    bought: dict[str, Decimal] = {}
    sold: dict[str, Decimal] = {}
    price_of: dict[str, Decimal] = {}
    for f in fills:
        b, o = by_bid[f.bid_id], by_offer[f.offer_id]
        limit, reserve, c = D(repr(b.limit)), D(repr(o.reserve)), conversion(b.accept[f.product])
        assert price_of.setdefault(f.product, f.price) == f.price  # one price per product
        assert reserve <= f.price <= limit * c  # between the matched ask and bid
        assert f.amount <= round_fen(limit * f.units)  # never above the buyer's limit
        assert f.amount >= round_fen(reserve * f.device_hours)  # never below the reserve
        assert f.units == f.device_hours * c
        bought[b.id] = bought.get(b.id, D(0)) + f.units
        sold[o.id] = sold.get(o.id, D(0)) + f.device_hours
    assert all(q <= D(repr(by_bid[b].quantity)) for b, q in bought.items())
    assert all(q <= D(repr(by_offer[o].quantity)) for o, q in sold.items())


@settings(max_examples=60, deadline=None)
@given(markets())
def test_trade_reduction_withholds_each_lone_sellers_marginal_offer(
    market: tuple[list[AuctionBid], list[AuctionOffer]],
) -> None:
    bids, offers = market
    unreduced = clear(bids, offers, thin_market_sellers=1)
    result = clear(bids, offers, thin_market_sellers=2)
    assert result.welfare <= unreduced.welfare + 1e-6  # reduction can only cost welfare
    by_offer = {o.id: o for o in offers}
    for product in result.reduced:
        traded = [by_offer[f.offer_id] for f in unreduced.fills if f.product == product]
        assert len({o.seller for o in traded}) < 2
        withheld = max(traded, key=lambda o: o.reserve)
        assert all(f.offer_id != withheld.id for f in result.fills)


def test_one_seller_one_buyer_clears_at_the_short_sides_price() -> None:
    offer = AuctionOffer("o", "p", "s", 8.0, 2.0)
    wants_more = AuctionBid("b", "t", 10.0, 5.0, {"p": 1.0})  # demand > supply: limit sets it
    result = clear([wants_more], [offer], thin_market_sellers=1)
    assert result.prices == {"p": 5.0} and result.welfare == 8 * (5 - 2)
    wants_less = AuctionBid("b", "t", 3.0, 5.0, {"p": 1.0})  # supply > demand: reserve sets it
    result = clear([wants_less], [offer], thin_market_sellers=1)
    assert result.prices == {"p": 2.0} and result.welfare == 3 * (5 - 2)


def test_an_sch_bid_buys_the_cheaper_standard_compute() -> None:
    # p-fast: 1.0 PFLOPS for 10/h = 10 per SCH; p-slow: 0.25 PFLOPS for 2/h = 8 per SCH
    offers = [
        AuctionOffer("fast", "p-fast", "s1", 10.0, 10.0),
        AuctionOffer("slow", "p-slow", "s2", 40.0, 2.0),
    ]
    bid = AuctionBid("b", "t", 5.0, 12.0, {"p-fast": 1.0, "p-slow": 0.25})  # 5 SCH at 12/SCH
    result = clear([bid], offers, thin_market_sellers=1)
    (fill,) = result.fills
    assert (fill.offer_id, round(fill.device_hours, 6), round(fill.units, 6)) == ("slow", 20.0, 5.0)


def test_a_thin_product_withholds_its_marginal_offer() -> None:
    offers = [AuctionOffer("cheap", "p", "s", 4.0, 1.0), AuctionOffer("dear", "p", "s", 4.0, 3.0)]
    bid = AuctionBid("b", "t", 8.0, 5.0, {"p": 1.0})
    result = clear([bid], offers, thin_market_sellers=2)
    assert result.reduced == ("p",)
    assert {f.offer_id for f in result.fills} == {"cheap"}
    assert result.prices["p"] == 5.0  # the buyer is still short: its limit sets the price


def test_equal_offers_sell_earlier_first_and_clearing_is_deterministic() -> None:
    offers = [
        AuctionOffer("first", "p", "s1", 4.0, 2.0),
        AuctionOffer("second", "p", "s2", 4.0, 2.0),
    ]
    bids = [
        AuctionBid("b1", "t1", 4.0, 5.0, {"p": 1.0}),
        AuctionBid("b2", "t2", 2.0, 5.0, {"p": 1.0}),
    ]
    result = clear(bids[:1], offers, thin_market_sellers=1)
    assert [f.offer_id for f in result.fills] == ["first"]
    runs = [clear(bids, offers[:1], thin_market_sellers=1).fills for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
