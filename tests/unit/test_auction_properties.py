"""The call auction on random markets (hypothesis): the welfare is an independent LP's
optimum and at least the greedy match's; prices are competitive (no unfilled bid values a
product above its price, no unsold offer asks below it) and between every matched bid
and ask; equal bids fill in order of arrival; trade reduction withholds exactly the thin
products' marginal offers; and, in exact money, nobody pays above its limit or receives
below its reserve, buyers' payments equal sellers' receipts and no order is overfilled."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from suanli.domain.money import round_fen
from suanli.logic.exchange.auction import (
    TIE_DECIMALS,
    AuctionBid,
    AuctionOffer,
    ClearingResult,
    clear,
)
from suanli.logic.exchange.fills import conversion, to_money
from suanli.logic.exchange.greedy import greedy

D = Decimal
PRODUCTS = ("p0", "p1", "p2")
# a few round prices often, so that equal bids and offers (ties) are common
prices = st.one_of(
    st.integers(1, 4000).map(lambda n: n / 100), st.sampled_from([1.0, 2.0, 2.5, 4.0])
)
Market = tuple[list[AuctionBid], list[AuctionOffer]]


@st.composite
def markets(draw: st.DrawFn) -> Market:
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
    for i in range(draw(st.integers(1, 12))):
        accepted = draw(st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3, unique=True))
        sch = draw(st.booleans())
        accept = {
            p: (
                float(conversion(draw(st.sampled_from([0.25, 0.5, 0.312]) | st.floats(0.1, 2.0))))
                if sch
                else 1.0
            )
            for p in accepted
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


def single_product_welfare(bids: list[AuctionBid], offers: list[AuctionOffer]) -> float:
    """Brute force for one product and device bids: the area between the demand and
    supply steps (serve the highest limits from the lowest reserves while they cover)."""
    demand = sorted(((b.limit, b.quantity) for b in bids), reverse=True)
    supply = sorted((o.reserve, o.quantity) for o in offers)
    welfare, i, j = 0.0, 0, 0
    want = demand[0][1] if demand else 0.0
    have = supply[0][1] if supply else 0.0
    while i < len(demand) and j < len(supply) and demand[i][0] >= supply[j][0]:
        take = min(want, have)
        welfare += take * (demand[i][0] - supply[j][0])
        want, have = want - take, have - take
        if want <= 0:
            i += 1
            want = demand[i][1] if i < len(demand) else 0.0
        if have <= 0:
            j += 1
            have = supply[j][1] if j < len(supply) else 0.0
    return welfare


def bought_units(result: ClearingResult) -> dict[str, float]:
    out: dict[str, float] = {}
    for f in result.fills:
        out[f.bid_id] = out.get(f.bid_id, 0.0) + f.units
    return out


@settings(max_examples=150, deadline=None)
@given(markets())
def test_welfare_is_the_optimum_and_at_least_greedys(market: Market) -> None:
    bids, offers = market
    result = clear(bids, offers, thin_market_sellers=1)
    assert abs(result.welfare - full_lp_welfare(bids, offers)) <= 1e-6 * max(1.0, result.welfare)
    assert result.welfare >= greedy(bids, offers).welfare - 1e-6


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 30), prices), min_size=1, max_size=12),
    st.lists(st.tuples(st.integers(1, 20), prices), min_size=1, max_size=8),
)
def test_one_products_welfare_is_the_area_between_demand_and_supply(
    bid_specs: list[tuple[int, float]], offer_specs: list[tuple[int, float]]
) -> None:
    bids = [AuctionBid(f"b{i}", "t", float(q), p, {"p": 1.0}) for i, (q, p) in enumerate(bid_specs)]
    offers = [
        AuctionOffer(f"o{i}", "p", f"s{i}", float(q), p) for i, (q, p) in enumerate(offer_specs)
    ]
    result = clear(bids, offers, thin_market_sellers=1)
    assert abs(result.welfare - single_product_welfare(bids, offers)) <= 1e-6 * max(
        1.0, result.welfare
    )


@settings(max_examples=150, deadline=None)
@given(markets(), st.sampled_from([1, 2, 3]))
def test_fills_respect_orders_and_prices_are_individually_rational(
    market: Market, thin: int
) -> None:
    bids, offers = market
    result = clear(bids, offers, thin_market_sellers=thin)
    by_bid = {b.id: b for b in bids}
    by_offer = {o.id: o for o in offers}
    sold: dict[str, float] = {}
    welfare = 0.0
    for f in result.fills:
        b, o = by_bid[f.bid_id], by_offer[f.offer_id]
        c = b.accept[f.product]
        assert o.product == f.product and f.device_hours > 0
        assert f.units == f.device_hours * c
        # exact, not within a tolerance: prices are clamped into the traders' interval
        assert o.reserve <= result.prices[f.product] <= b.limit * c
        assert o.id not in result.withheld
        sold[o.id] = sold.get(o.id, 0.0) + f.device_hours
        welfare += f.units * b.limit - f.device_hours * o.reserve
    assert set(result.prices) == {f.product for f in result.fills}
    assert all(q <= by_offer[o].quantity + 1e-9 for o, q in sold.items())
    assert all(q <= by_bid[b].quantity + 1e-9 for b, q in bought_units(result).items())
    assert abs(result.welfare - welfare) <= 1e-9 * max(1.0, welfare)


@settings(max_examples=150, deadline=None)
@given(markets())
def test_prices_are_competitive(market: Market) -> None:
    """At its product's price, no bid with quantity left would buy more and no offer
    with device-hours left would sell more (up to the solver's tolerance)."""
    bids, offers = market
    result = clear(bids, offers, thin_market_sellers=1)
    bought = bought_units(result)
    sold: dict[str, float] = {}
    for f in result.fills:
        sold[f.offer_id] = sold.get(f.offer_id, 0.0) + f.device_hours
    for b in bids:
        if bought.get(b.id, 0.0) < b.quantity - 1e-6:
            for p, c in b.accept.items():
                if p in result.prices:
                    assert b.limit * c <= result.prices[p] + 1e-6
    for o in offers:
        if o.product in result.prices and sold.get(o.id, 0.0) < o.quantity - 1e-6:
            assert o.reserve >= result.prices[o.product] - 1e-6


@settings(max_examples=150, deadline=None)
@given(markets(), st.sampled_from([1, 2]))
def test_equal_bids_fill_in_order_of_arrival(market: Market, thin: int) -> None:
    """In a product, a later bid gets device-hours only if every earlier bid valuing them
    the same is full (or has a tie of its own elsewhere: its quantity is what's left)."""
    bids, offers = market
    result = clear(bids, offers, thin_market_sellers=thin)
    bought = bought_units(result)
    filled_in = {(f.bid_id, f.product) for f in result.fills}
    for p in result.prices:
        for j, later in enumerate(bids):
            if (later.id, p) not in filled_in:
                continue
            value = round(later.limit * later.accept[p], TIE_DECIMALS)
            for earlier in bids[:j]:
                if (
                    p in earlier.accept
                    and round(earlier.limit * earlier.accept[p], TIE_DECIMALS) == value
                ):
                    assert bought.get(earlier.id, 0.0) >= earlier.quantity - 1e-6


@settings(max_examples=100, deadline=None)
@given(markets())
def test_trade_reduction_withholds_each_thin_products_marginal_offer(market: Market) -> None:
    bids, offers = market
    unreduced = clear(bids, offers, thin_market_sellers=1)
    result = clear(bids, offers, thin_market_sellers=2)
    assert result.welfare <= unreduced.welfare + 1e-6  # reduction can only cost welfare
    by_offer = {o.id: o for o in offers}
    thin = set()
    for product in unreduced.prices:
        traded = [by_offer[f.offer_id] for f in unreduced.fills if f.product == product]
        if len({o.seller for o in traded}) < 2:
            thin.add(product)
            marginal = unreduced.fills[
                -1 - [f.product for f in reversed(unreduced.fills)].index(product)
            ]
            assert max(o.reserve for o in traded) == by_offer[marginal.offer_id].reserve
            assert marginal.offer_id in result.withheld
            # none of the lone seller's offers of this product may step in
            lone = traded[0].seller
            for f in result.fills:
                if f.product == product:
                    assert by_offer[f.offer_id].seller != lone or any(
                        g.offer_id == f.offer_id for g in unreduced.fills
                    )
    assert set(result.reduced) == thin
    assert all(by_offer[o].product in thin for o in result.withheld)


@settings(max_examples=150, deadline=None)
@given(markets(), st.sampled_from([1, 2]))
def test_money_is_rational_balanced_and_within_every_order(market: Market, thin: int) -> None:
    bids, offers = market
    result = clear(bids, offers, thin_market_sellers=thin)
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
    paid: dict[str, Decimal] = {}
    received: dict[str, Decimal] = {}
    price_of: dict[str, Decimal] = {}
    for f in fills:
        b, o = by_bid[f.bid_id], by_offer[f.offer_id]
        limit, reserve, c = D(repr(b.limit)), D(repr(o.reserve)), conversion(b.accept[f.product])
        assert price_of.setdefault(f.product, f.price) == f.price  # one price per product
        assert f.price == f.price.quantize(D("0.0001"))
        assert reserve <= f.price <= limit * c  # between the matched ask and bid
        assert f.amount <= round_fen(limit * f.units)  # never above the buyer's limit
        assert f.amount >= round_fen(reserve * f.device_hours)  # never below the reserve
        assert f.amount == round_fen(f.price * f.device_hours) > 0
        assert f.units == f.device_hours * c
        assert f.device_hours == f.device_hours.quantize(D("0.001"))
        bought[b.id] = bought.get(b.id, D(0)) + f.units
        sold[o.id] = sold.get(o.id, D(0)) + f.device_hours
        paid[b.buyer] = paid.get(b.buyer, D(0)) + f.amount
        received[o.seller] = received.get(o.seller, D(0)) + f.amount
    assert sum(paid.values(), D(0)) == sum(received.values(), D(0))  # budget balance
    assert all(q <= D(repr(by_bid[b].quantity)) for b, q in bought.items())
    assert all(q <= D(repr(by_offer[o].quantity)) for o, q in sold.items())
