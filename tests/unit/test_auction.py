"""The call auction on hand-computed markets: one seller one buyer, an SCH bid routed to
the cheaper standard compute, thin markets reduced, ties by arrival; the exact money
conversion; and a market big enough for column generation checked against one full LP."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from suanli.domain.ids import ClusterId, ProviderId, RegionId, TenantId
from suanli.domain.market import Bid, BidId, Lane, Offer, OfferId, make_product
from suanli.logic.exchange.auction import (
    AuctionBid,
    AuctionOffer,
    ClearingResult,
    Fill,
    clear,
)
from suanli.logic.exchange.fills import conversion, order_fills, to_money
from suanli.logic.exchange.greedy import greedy

D = Decimal


def bid(id: str, quantity: float, limit: float, **accept: float) -> AuctionBid:
    return AuctionBid(id, f"t-{id}", quantity, limit, accept or {"p": 1.0})


def sold(result: ClearingResult) -> dict[tuple[str, str], float]:
    """(bid, offer) -> device-hours, rounded for comparison."""
    out: dict[tuple[str, str], float] = {}
    for f in result.fills:
        out[f.bid_id, f.offer_id] = round(out.get((f.bid_id, f.offer_id), 0.0) + f.device_hours, 9)
    return out


# --- one seller, one buyer ------------------------------------------------------------


def test_when_demand_exceeds_supply_the_buyers_limit_sets_the_price() -> None:
    result = clear(
        [bid("b", 10.0, 5.0)], [AuctionOffer("o", "p", "s", 8.0, 2.0)], thin_market_sellers=1
    )
    assert sold(result) == {("b", "o"): 8.0}
    assert result.prices == {"p": 5.0}
    assert result.welfare == 8 * (5 - 2)


def test_when_supply_exceeds_demand_the_sellers_reserve_sets_the_price() -> None:
    result = clear(
        [bid("b", 3.0, 5.0)], [AuctionOffer("o", "p", "s", 8.0, 2.0)], thin_market_sellers=1
    )
    assert sold(result) == {("b", "o"): 3.0}
    assert result.prices == {"p": 2.0}
    assert result.welfare == 3 * (5 - 2)


def test_no_trade_when_the_limit_is_below_the_reserve() -> None:
    result = clear(
        [bid("b", 3.0, 1.99)], [AuctionOffer("o", "p", "s", 8.0, 2.0)], thin_market_sellers=1
    )
    assert result == ClearingResult()


def test_an_empty_book_clears_to_nothing() -> None:
    assert clear([], []) == ClearingResult()
    assert clear([bid("b", 3.0, 5.0)], []) == ClearingResult()
    assert clear([], [AuctionOffer("o", "p", "s", 8.0, 2.0)]) == ClearingResult()


def test_a_bid_only_trades_in_products_it_accepts() -> None:
    offers = [AuctionOffer("o", "q", "s", 8.0, 1.0)]
    assert clear([bid("b", 3.0, 5.0, p=1.0)], offers, thin_market_sellers=1).fills == []


# --- standard compute ------------------------------------------------------------------


def test_an_sch_bid_buys_the_cheaper_standard_compute() -> None:
    # fast: 1.0 PFLOPS at 10/h = 10 per SCH; slow: 0.25 PFLOPS at 2/h = 8 per SCH
    offers = [
        AuctionOffer("fast", "p-fast", "s1", 10.0, 10.0),
        AuctionOffer("slow", "p-slow", "s2", 40.0, 2.0),
    ]
    sch = AuctionBid("b", "t", 5.0, 12.0, {"p-fast": 1.0, "p-slow": 0.25})  # 5 SCH at 12/SCH
    result = clear([sch], offers, thin_market_sellers=1)
    (fill,) = result.fills
    assert (fill.offer_id, round(fill.device_hours, 9), round(fill.units, 9)) == ("slow", 20.0, 5.0)
    assert result.prices == {"p-slow": 2.0}  # supply is left over: the reserve
    assert result.welfare == pytest.approx(5 * 12 - 20 * 2)


def test_an_sch_bid_spills_onto_the_dearer_device_when_the_cheaper_runs_out() -> None:
    offers = [
        AuctionOffer("fast", "p-fast", "s1", 10.0, 10.0),
        AuctionOffer("slow", "p-slow", "s2", 8.0, 2.0),  # 8 h x 0.25 = 2 SCH only
    ]
    sch = AuctionBid("b", "t", 5.0, 12.0, {"p-fast": 1.0, "p-slow": 0.25})
    result = clear([sch], offers, thin_market_sellers=1)
    assert sold(result) == {("b", "slow"): 8.0, ("b", "fast"): 3.0}
    # the bid is full, so its surplus per SCH is the same on both: 12 - 10/1 = 12 - p/0.25
    assert result.prices["p-fast"] == pytest.approx(10.0)
    assert result.prices["p-slow"] == pytest.approx(2.5)
    assert result.welfare == pytest.approx(5 * 12 - 8 * 2 - 3 * 10)


def test_a_device_goes_to_the_bid_that_values_it_most_per_device_hour() -> None:
    # 4 device-hours rated 0.5: an SCH bid at 12/SCH values one at 6, a device bid at 7
    offers = [AuctionOffer("o", "p", "s", 4.0, 1.0)]
    bids = [AuctionBid("sch", "t1", 2.0, 12.0, {"p": 0.5}), bid("dev", 4.0, 7.0)]
    result = clear(bids, offers, thin_market_sellers=1)
    assert sold(result) == {("dev", "o"): 4.0}
    assert 6.0 <= result.prices["p"] <= 7.0


# --- trade reduction -------------------------------------------------------------------


def test_a_lone_seller_loses_its_marginal_offer_and_the_buyers_set_the_price() -> None:
    offers = [AuctionOffer("cheap", "p", "s", 4.0, 1.0), AuctionOffer("dear", "p", "s", 4.0, 3.0)]
    bids = [bid("b", 8.0, 5.0)]
    assert clear(bids, offers, thin_market_sellers=1).prices == {"p": pytest.approx(3.0)}
    result = clear(bids, offers, thin_market_sellers=2)
    assert result.reduced == ("p",) and result.withheld == ("dear",)
    assert sold(result) == {("b", "cheap"): 4.0}
    assert result.prices == {"p": 5.0}  # the buyer is still short: its limit sets it
    assert result.welfare == 4 * (5 - 1)  # the withheld trade's 4 x (5 - 3) is the cost


def test_the_lone_sellers_unsold_offers_cannot_take_the_marginal_ones_place() -> None:
    # only "cheap" trades (3 of 4 device-hours), so it is the marginal offer; "dear" must
    # not step in, or the seller's own reserve (3) would set the price again
    offers = [AuctionOffer("cheap", "p", "s", 4.0, 1.0), AuctionOffer("dear", "p", "s", 4.0, 3.0)]
    result = clear([bid("b", 3.0, 5.0)], offers)
    assert result.reduced == ("p",) and result.withheld == ("cheap", "dear")
    assert result.fills == [] and result.prices == {} and result.welfare == 0


def test_another_sellers_offer_may_replace_the_withheld_one() -> None:
    offers = [
        AuctionOffer("cheap", "p", "s", 4.0, 1.0),
        AuctionOffer("dear", "p", "s", 4.0, 3.0),
        AuctionOffer("rival", "p", "r", 4.0, 4.0),
    ]
    result = clear([bid("b", 3.0, 5.0)], offers)
    assert result.withheld == ("cheap", "dear")
    assert sold(result) == {("b", "rival"): 3.0}
    assert result.prices == {"p": 4.0}  # the rival's reserve, not the lone seller's


def test_two_sellers_trading_make_a_thick_enough_market() -> None:
    offers = [AuctionOffer("a", "p", "s1", 4.0, 1.0), AuctionOffer("b", "p", "s2", 4.0, 3.0)]
    result = clear([bid("x", 6.0, 5.0)], offers)
    assert result.reduced == () and result.withheld == ()
    assert sold(result) == {("x", "a"): 4.0, ("x", "b"): 2.0}
    assert result.prices == {"p": pytest.approx(3.0)}


def test_reduction_is_per_product() -> None:
    offers = [
        AuctionOffer("thin", "p", "s", 4.0, 1.0),
        AuctionOffer("q1", "q", "s1", 4.0, 1.0),
        AuctionOffer("q2", "q", "s2", 4.0, 1.0),
    ]
    bids = [bid("b", 2.0, 5.0, p=1.0), bid("c", 6.0, 5.0, q=1.0)]
    result = clear(bids, offers)
    assert result.reduced == ("p",) and result.withheld == ("thin",)
    assert sold(result) == {("c", "q1"): 4.0, ("c", "q2"): 2.0}


# --- ties ------------------------------------------------------------------------------


def test_equal_bids_are_filled_in_order_of_arrival() -> None:
    offers = [AuctionOffer("o", "p", "s", 5.0, 1.0)]
    bids = [bid(f"b{i}", 2.0, 3.0) for i in range(6)]
    result = clear(bids, offers, thin_market_sellers=1)
    assert sold(result) == {("b0", "o"): 2.0, ("b1", "o"): 2.0, ("b2", "o"): 1.0}
    result = clear(bids[::-1], offers, thin_market_sellers=1)
    assert sold(result) == {("b5", "o"): 2.0, ("b4", "o"): 2.0, ("b3", "o"): 1.0}


def test_many_equal_bids_beyond_the_first_lp_columns_keep_their_priority() -> None:
    # 300 equal bids for 10 device-hours: the LP starts from a few columns only
    offers = [AuctionOffer("o", "p", "s", 10.0, 1.0)]
    bids = [bid(f"b{i:03}", 1.0, 3.0) for i in range(300)]
    result = clear(bids[::-1], offers, thin_market_sellers=1)
    assert sorted(b for b, _ in sold(result)) == [f"b{i:03}" for i in range(290, 300)]


def test_an_sch_bid_and_a_device_bid_of_equal_value_tie_by_arrival() -> None:
    offers = [AuctionOffer("o", "p", "s", 2.0, 1.0)]
    sch = AuctionBid("sch", "t1", 1.0, 8.0, {"p": 0.5})  # 8/SCH x 0.5 = 4 per device-hour
    dev = bid("dev", 2.0, 4.0)
    assert sold(clear([sch, dev], offers, thin_market_sellers=1)) == {("sch", "o"): 2.0}
    assert sold(clear([dev, sch], offers, thin_market_sellers=1)) == {("dev", "o"): 2.0}


def test_equal_offers_sell_in_order_of_arrival() -> None:
    offers = [
        AuctionOffer("first", "p", "s1", 4.0, 2.0),
        AuctionOffer("second", "p", "s2", 4.0, 2.0),
        AuctionOffer("cheapest", "p", "s3", 1.0, 1.5),
    ]
    result = clear([bid("b", 6.0, 5.0)], offers, thin_market_sellers=1)
    assert [(f.offer_id, f.device_hours) for f in result.fills] == [
        ("cheapest", 1.0),
        ("first", 4.0),
        ("second", 1.0),
    ]


def test_the_same_book_clears_the_same_way() -> None:
    bids, offers = random_market(random.Random(5), bids=400, offers=40, products=4)
    runs = [clear(bids, offers) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]


# --- inputs ----------------------------------------------------------------------------


def test_duplicate_ids_and_non_finite_numbers_are_refused() -> None:
    offer = AuctionOffer("o", "p", "s", 4.0, 1.0)
    with pytest.raises(ValueError, match="bid ids"):
        clear([bid("b", 1.0, 2.0), bid("b", 1.0, 2.0)], [offer])
    with pytest.raises(ValueError, match="offer ids"):
        clear([bid("b", 1.0, 2.0)], [offer, offer])
    with pytest.raises(ValueError, match="finite"):
        clear([bid("b", 1.0, float("nan"))], [offer])
    with pytest.raises(ValueError, match="finite"):
        clear([bid("b", 1.0, 2.0)], [AuctionOffer("o", "p", "s", float("inf"), 1.0)])


def test_orders_with_nothing_to_trade_take_no_part() -> None:
    offers = [AuctionOffer("none", "p", "s", 0.0, 0.5), AuctionOffer("o", "p", "s", 4.0, 1.0)]
    bids = [bid("zero", 0.0, 9.0), AuctionBid("c0", "t", 4.0, 9.0, {"p": 0.0}), bid("b", 2.0, 3.0)]
    result = clear(bids, offers, thin_market_sellers=1)
    assert sold(result) == {("b", "o"): 2.0}


# --- greedy ----------------------------------------------------------------------------


def test_the_lp_routes_a_flexible_bid_where_greedy_cannot() -> None:
    # greedy gives "flex" its best product p first; "only-p" then has nothing left
    offers = [AuctionOffer("op", "p", "s1", 2.0, 1.0), AuctionOffer("oq", "q", "s2", 2.0, 1.0)]
    bids = [
        AuctionBid("flex", "t1", 1.8, 6.0, {"p": 1.0, "q": 0.9}),  # all 2 h of q, or 1.8 of p
        bid("only-p", 2.0, 5.0, p=1.0),
    ]
    lp, base = clear(bids, offers, thin_market_sellers=1), greedy(bids, offers)
    assert sold(base) == {("flex", "op"): 1.8, ("only-p", "op"): 0.2}
    assert sold(lp) == {("flex", "oq"): 2.0, ("only-p", "op"): 2.0}
    assert lp.welfare == pytest.approx(2 * (5.4 - 1) + 2 * (5 - 1))
    assert base.welfare == pytest.approx(1.8 * (6 - 1) + 0.2 * (5 - 1))


# --- exact money -----------------------------------------------------------------------


def test_money_rounds_quantities_down_and_prices_into_the_traders_interval() -> None:
    # 10 SCH at 10/SCH of a device rated 0.312 (3.12 per device-hour), from 100 at 3
    result = clear(
        [AuctionBid("b", "t", 10.0, 10.0, {"p": 0.312})],
        [AuctionOffer("o", "p", "s", 100.0, 3.0)],
        thin_market_sellers=1,
    )
    (fill,) = to_money(result, {"b": D(10)}, {"o": D(3)}, {"b": {"p": D("0.312")}})
    assert fill.device_hours == D("32.051")  # 10 / 0.312 = 32.0512..., rounded down
    assert fill.units == D("9.999912")
    assert fill.price == D("3.0000")
    assert fill.amount == D("96.15")  # 96.153


def test_money_clamps_a_price_off_by_solver_noise() -> None:
    result = ClearingResult(
        fills=[Fill("b", "o", "p", 2.0, 2.0)], prices={"p": 5.00000001}, welfare=6.0
    )
    (fill,) = to_money(result, {"b": D("4.99995")}, {"o": D(2)}, {"b": {"p": D(1)}})
    assert fill.price == D("4.9999")  # the limit, rounded down to the rate step
    result.prices["p"] = 1.99999999
    (fill,) = to_money(result, {"b": D(5)}, {"o": D(2)}, {"b": {"p": D(1)}})
    assert fill.price == D(2)


def test_money_caps_orders_and_drops_fills_worth_nothing() -> None:
    result = ClearingResult(
        fills=[
            Fill("b1", "o", "p", 3.0004, 3.0004),
            Fill("b2", "o", "p", 2.0, 2.0),
            Fill("b3", "o", "p", 0.0009, 0.0009),  # rounds to no device-hours
            Fill("b4", "o2", "p", 0.001, 0.001),  # 0.001 h x 2 = 0.002: no fen
        ],
        prices={"p": 2.0},
        welfare=0.0,
    )
    limits = {b: D(3) for b in ("b1", "b2", "b3", "b4")}
    conv = {b: {"p": D(1)} for b in limits}
    fills = to_money(
        result,
        limits,
        {"o": D(2), "o2": D(1)},
        conv,
        offer_caps={"o": D("4.5"), "o2": D(1)},
        bid_caps={"b1": D(10), "b2": D("1.25"), "b3": D(1), "b4": D(1)},
    )
    assert [(f.bid_id, f.device_hours, f.amount) for f in fills] == [
        ("b1", D("3.000"), D("6.00")),
        ("b2", D("1.25"), D("2.50")),  # the bid's cap, under the offer's 1.5 left
    ]


def test_order_fills_reads_limits_reserves_and_caps_from_the_orders() -> None:
    at = datetime(2026, 12, 4, 8, tzinfo=UTC)
    product = make_product("gpu:H100", "zhengzhou", at, 4, Lane.RESERVED)
    offer = Offer(
        OfferId("o-1"),
        ProviderId("prov"),
        ClusterId("c1"),
        product.resource[len("gpu:") :],
        RegionId("zhengzhou"),
        at,
        4,
        Lane.RESERVED,
        devices=2,
        reserve=D("10.5"),
        posted_at=at,
        sold=D(3),  # 8 device-hours, 5 left
    )
    buyer = Bid(
        BidId("b-1"),
        TenantId("t"),
        None,
        product.resource,
        quantity=D(9),
        limit=D("12.25"),
        products=(product,),
        posted_at=at,
        filled=D(1),  # 8 left
    )
    key = offer.supply.key
    result = clear(
        [AuctionBid(buyer.id, buyer.tenant_id, 8.0, 12.25, {key: 1.0})],
        [AuctionOffer(offer.id, key, offer.provider_id, 5.0, 10.5)],
        thin_market_sellers=1,
    )
    (fill,) = order_fills(result, [buyer], [offer], {buyer.id: {key: D(1)}})
    assert (fill.device_hours, fill.price, fill.amount) == (D(5), D("12.2500"), D("61.25"))
    # a clearing that oversold (a stale book) is cut to what the orders have
    stale = ClearingResult([Fill(buyer.id, offer.id, key, 7.0, 7.0)], {key: 11.0}, 3.5)
    (fill,) = order_fills(stale, [buyer], [offer], {buyer.id: {key: D(1)}})
    assert fill.device_hours == D(5)


def test_conversion_rounds_a_rating_down_to_three_decimals() -> None:
    assert conversion(0.98935) == D("0.989")
    assert conversion(1.0) == D("1.000")


# --- column generation against one full LP ---------------------------------------------


def random_market(
    rng: random.Random, *, bids: int, offers: int, products: int
) -> tuple[list[AuctionBid], list[AuctionOffer]]:
    keys = [f"p{i}" for i in range(products)]
    mean = {k: rng.uniform(2, 20) for k in keys}
    offer_list = [
        AuctionOffer(
            f"o{i}",
            k := rng.choice(keys),
            f"s{rng.randrange(offers // 3 + 1)}",
            float(rng.randint(1, 16) * 4),
            round(mean[k] * 0.8 * rng.lognormvariate(0, 0.25), 4),
        )
        for i in range(offers)
    ]
    bid_list = []
    for i in range(bids):
        accepted = rng.sample(keys, rng.randint(1, min(3, products)))
        sch = rng.random() < 0.3
        conv = {k: (rng.choice((0.312, 0.989, 0.181)) if sch else 1.0) for k in accepted}
        base = sum(mean[k] / conv[k] for k in accepted) / len(accepted)
        limit = round(base * 1.1 * rng.lognormvariate(0, 0.3), 4)
        bid_list.append(AuctionBid(f"b{i}", f"t{i}", float(rng.randint(1, 40)), limit, conv))
    return bid_list, offer_list


def full_lp_welfare(bids: list[AuctionBid], offers: list[AuctionOffer]) -> float:
    """The market as one sparse LP over every (bid, product) pair, a row per bid."""
    products = sorted({o.product for o in offers} | {p for b in bids for p in b.accept})
    pidx = {p: i for i, p in enumerate(products)}
    cols = [(bi, p, c) for bi, b in enumerate(bids) for p, c in b.accept.items()]
    nx = len(cols)
    rows, index, vals = [], [], []
    for j, (bi, p, c) in enumerate(cols):
        rows += [pidx[p], len(products) + bi]
        index += [j, j]
        vals += [1.0, c]
    for k, o in enumerate(offers):
        rows.append(pidx[o.product])
        index.append(nx + k)
        vals.append(-1.0)
    a = coo_matrix((vals, (rows, index)), shape=(len(products) + len(bids), nx + len(offers)))
    cost = [-bids[bi].limit * c for bi, _, c in cols] + [o.reserve for o in offers]
    rhs = [0.0] * len(products) + [b.quantity for b in bids]
    bounds = [(0, None)] * nx + [(0, o.quantity) for o in offers]
    res = linprog(np.asarray(cost), A_ub=a.tocsr(), b_ub=rhs, bounds=bounds, method="highs")
    assert res.status == 0
    return float(-res.fun)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_column_generation_reaches_the_full_lps_optimum(seed: int) -> None:
    # ten times the demand the supply can serve: most columns start left out
    bids, offers = random_market(random.Random(seed), bids=3000, offers=60, products=6)
    result = clear(bids, offers, thin_market_sellers=1)
    assert result.welfare == pytest.approx(full_lp_welfare(bids, offers), rel=1e-9)
    assert result.welfare >= greedy(bids, offers).welfare


def test_columns_left_out_at_first_enter_when_they_would_trade() -> None:
    # q's first columns are the 40 bids that value it most, but those are better served
    # by p; the 15 single-product bids for q enter only when the first prices show it
    offers = [AuctionOffer("op", "p", "s1", 40.0, 1.0), AuctionOffer("oq", "q", "s2", 10.0, 1.0)]
    flexible = [AuctionBid(f"a{i:02}", "t", 1.0, 20.0, {"p": 1.0, "q": 0.5}) for i in range(40)]
    q_only = [bid(f"q{i:02}", 1.0, 5.0, q=1.0) for i in range(15)]
    result = clear(flexible + q_only, offers, thin_market_sellers=1)
    assert result.welfare == pytest.approx(40 * (20 - 1) + 10 * (5 - 1))
    assert sorted(b for b, o in sold(result) if o == "oq") == [f"q{i:02}" for i in range(10)]
