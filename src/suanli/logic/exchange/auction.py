"""One call-auction period, cleared by linear programming (HiGHS, through SciPy).

Variables: x[b,p] >= 0, device-hours of supply product p sold to bid b; y[o] in [0, q_o],
device-hours sold by offer o. With c[b,p] the bid's units per device-hour of p (1 for a
device-model bid, the device's rating in PFLOPS for an SCH bid):

    maximise   sum limit_b c[b,p] x[b,p]  -  sum reserve_o y[o]          (welfare)
    s.t.       sum_b x[b,p] - sum_{o in p} y[o] <= 0       for each product p   (dual: price_p)
               sum_p c[b,p] x[b,p] <= Q_b                  for each bid with several products
               0 <= x[b,p] <= Q_b / c[b,p]

The dual of a product's row is its competitive (Walrasian) price: every bid filled in p
values it at least that (limit x c >= price) and every offer selling in p asks at most
that (reserve <= price), so trades are individually rational and, with one price per
product for both sides, budget-balanced. Prices are then clamped into exactly that
interval, so solver tolerance can never break those properties.

Ties, so that the same book always clears the same way and earlier orders win:
- offers: a product's sales go to its offers cheapest first, earlier first among equal
  reserves (the LP's y is only used through the product's total);
- bids: among a product's bids of equal value per device-hour, the device-hours the LP
  gave that value class go to the earlier bids first (as far as what each has left after
  its other products allows). Moving quantity between bids of equal value changes neither
  the welfare nor the prices' validity, since at an optimum only bids at exactly the
  product's price can be partly filled.

Trade reduction: where fewer than `thin_market_sellers` distinct sellers trade in a
product, a seller could set its own price. Each such product's marginal (last-selling,
so highest-reserve) offer is withheld, with every offer of the product's trading sellers
that did not trade (else the seller's next offer would take the marginal one's place and
its reserve set the price again), and the LP is solved once more. The product then
trades only offers that sold in full, at a price the buyers' side sets.

Columns that cannot trade (a bid's value per device-hour below the product's cheapest
reserve) are never built: they could not be part of an optimum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

TOL = 1e-9
"""Device-hours (or units) at or below this are nothing: LP noise, not a trade."""
GAIN_TOL = 1e-7
"""A left-out column enters only if it gains more than this (CNY per unit), HiGHS's own
dual feasibility tolerance: below it the restricted optimum is the optimum."""
TIE_DECIMALS = 9
"""Values per device-hour equal to this many decimals are a tie. Limits have four
decimals and conversions three, so distinct real values differ by far more."""
PRIORITY_PASSES = 8
"""Time priority is re-applied until nothing moves, at most this often (one pass
settles it unless a bid ties in several products)."""

Floats = NDArray[np.float64]
Ints = NDArray[np.intp]
Bools = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class AuctionOffer:
    """Device-hours of one supply product for sale at a reserve price."""

    id: str
    product: str
    """Supply product key: one device model in one region for one block and lane."""
    seller: str
    """Who gets the money; trade reduction counts distinct sellers."""
    quantity: float
    """Device-hours for sale."""
    reserve: float
    """CNY per device-hour."""


@dataclass(frozen=True, slots=True)
class AuctionBid:
    """Up to `quantity` units at no more than `limit` CNY per unit, from any product in
    `accept`."""

    id: str
    buyer: str
    quantity: float
    """In the bid's unit (device-hours, core-hours or SCH)."""
    limit: float
    """CNY per unit of the bid."""
    accept: Mapping[str, float]
    """Supply product key -> units of the bid per device-hour of that product (1.0 for a
    device bid; the model's rating in PFLOPS for an SCH bid)."""


@dataclass(frozen=True, slots=True)
class Fill:
    """Device-hours of one offer sold to one bid; `units` = device-hours x conversion."""

    bid_id: str
    offer_id: str
    product: str
    device_hours: float
    units: float


@dataclass(slots=True)
class ClearingResult:
    fills: list[Fill] = field(default_factory=list)
    """By product key, then bid order; a bid's device-hours come from the product's
    offers cheapest first, earlier first."""
    prices: dict[str, float] = field(default_factory=dict)
    """CNY per device-hour, for each product that traded: at least the reserve of every
    offer that sold in it, at most limit x conversion of every bid filled in it."""
    welfare: float = 0.0
    """Sum over fills of (limit x units - reserve x device-hours), CNY."""
    reduced: tuple[str, ...] = ()
    """Products where trade reduction withheld the marginal offer (sorted)."""
    withheld: tuple[str, ...] = ()
    """Offers trade reduction kept out of this period (in offer order); they stay open."""


def clear(
    bids: Sequence[AuctionBid], offers: Sequence[AuctionOffer], *, thin_market_sellers: int = 2
) -> ClearingResult:
    """Clear one period: the welfare-maximising trades, one price per supply product.

    Orders earlier in their list win ties (time priority); the same input always gives
    the same result. Order ids must be unique and numbers finite (ValueError otherwise).
    Offers and bids with no positive quantity, and acceptances with no positive
    conversion, take no part. `thin_market_sellers` <= 1 turns trade reduction off.
    """
    _check(bids, offers)
    first = _solve(bids, offers, frozenset())
    if thin_market_sellers <= 1:
        return first.result
    withheld: set[int] = set()
    reduced: list[str] = []
    for product, sold in first.sold_by.items():
        sellers = {offers[i].seller for i in sold}
        if len(sellers) >= thin_market_sellers:
            continue
        reduced.append(product)
        withheld.add(sold[-1])  # the last to sell: the highest reserve, the latest among equals
        traded = set(sold)
        withheld.update(
            i for i in first.offers_of[product] if i not in traded and offers[i].seller in sellers
        )
    if not withheld:
        return first.result
    result = _solve(bids, offers, frozenset(withheld)).result
    result.reduced = tuple(sorted(reduced))
    result.withheld = tuple(offers[i].id for i in sorted(withheld))
    return result


def _check(bids: Sequence[AuctionBid], offers: Sequence[AuctionOffer]) -> None:
    if len({b.id for b in bids}) != len(bids):
        raise ValueError("bid ids must be unique")
    if len({o.id for o in offers}) != len(offers):
        raise ValueError("offer ids must be unique")
    numbers = (
        chain.from_iterable((o.quantity, o.reserve) for o in offers),
        chain.from_iterable((b.quantity, b.limit) for b in bids),
        chain.from_iterable(b.accept.values() for b in bids),
    )
    if not all(np.isfinite(np.fromiter(n, dtype=np.float64)).all() for n in numbers):
        raise ValueError("quantities, prices and conversions must be finite")


@dataclass(slots=True)
class _Cleared:
    result: ClearingResult
    sold_by: dict[str, list[int]]
    """Product -> indices of the offers that sold in it, in the order they sold."""
    offers_of: dict[str, list[int]]
    """Product -> indices of its live offers, in the order they would sell."""


@dataclass(frozen=True, slots=True)
class _Columns:
    """The candidate x[b,p]: one per bid and acceptable product that can trade."""

    bid: Ints
    prod: Ints
    c: Floats
    limit: Floats
    """Per bid."""
    qty: Floats
    """Per bid."""

    @property
    def value(self) -> Floats:
        """Value per device-hour of each column."""
        return np.asarray(self.limit[self.bid] * self.c, dtype=np.float64)


def _solve(
    bids: Sequence[AuctionBid], offers: Sequence[AuctionOffer], withheld: frozenset[int]
) -> _Cleared:
    live = [i for i, o in enumerate(offers) if i not in withheld and o.quantity > TOL]
    products = sorted({offers[i].product for i in live})
    pidx = {p: k for k, p in enumerate(products)}
    # each product's offers in the order they sell: cheapest first, then time priority
    offers_of: dict[str, list[int]] = {p: [] for p in products}
    for i in sorted(live, key=lambda i: (offers[i].reserve, i)):
        offers_of[offers[i].product].append(i)
    empty = _Cleared(ClearingResult(), {}, offers_of)
    if not products:
        return empty
    cheapest = {p: offers[q[0]].reserve for p, q in offers_of.items()}
    supply = np.zeros(len(products))
    for i in live:
        supply[pidx[offers[i].product]] += offers[i].quantity
    col_bid: list[int] = []
    col_prod: list[int] = []
    col_c: list[float] = []
    for bi, b in enumerate(bids):
        if b.quantity <= TOL:
            continue
        for p, c in b.accept.items():
            if c > 0 and p in pidx and b.limit * c >= cheapest[p]:
                col_bid.append(bi)
                col_prod.append(pidx[p])
                col_c.append(c)
    if not col_bid:
        return empty
    cols = _Columns(
        np.asarray(col_bid, dtype=np.intp),
        np.asarray(col_prod, dtype=np.intp),
        np.asarray(col_c, dtype=np.float64),
        np.asarray([b.limit for b in bids], dtype=np.float64),
        np.asarray([b.quantity for b in bids], dtype=np.float64),
    )
    lp_offers = [offers[i] for i in live]
    active = _initial_columns(cols, supply)
    # Column generation: solve over the most valuable columns, then add every left-out
    # column a bid would rather trade on at the prices found; when none is left, the
    # duals prove the restricted optimum optimal for the whole market.
    while True:
        x_active, duals = _lp(cols, active, lp_offers, pidx, len(products))
        entering = _profitable(cols, active, x_active, duals)
        if not entering.any():
            break
        active |= entering
    x = np.zeros(len(cols.bid))
    x[active] = x_active
    x = _within_quantities(cols, x)
    _time_priority(cols, x)
    return _fills(bids, offers, offers_of, products, cols, x, duals)


def _initial_columns(cols: _Columns, supply: Floats) -> Bools:
    """Per product, its most valuable columns until they ask for three times its supply
    (a bid's whole quantity per column): the bids that can set or meet its price."""
    value = cols.value
    order = np.lexsort((-value, cols.prod))
    demand = (cols.qty[cols.bid] / cols.c)[order]
    prod = cols.prod[order]
    cum = np.cumsum(demand)
    first = np.searchsorted(prod, prod, side="left")
    before = np.where(first > 0, cum[first - 1], 0.0)
    within = cum - demand - before  # demand of the product's better columns
    keep = np.zeros(len(order), dtype=bool)
    keep[order] = within < 3 * supply[prod]
    return keep


def _lp(
    cols: _Columns,
    active: Bools,
    live: Sequence[AuctionOffer],
    pidx: Mapping[str, int],
    nprod: int,
) -> tuple[Floats, Floats]:
    """Solve over the active columns: (their x, the products' prices)."""
    cb, cp, cc = cols.bid[active], cols.prod[active], cols.c[active]
    nx, ny = len(cb), len(live)
    oprod = np.asarray([pidx[o.product] for o in live], dtype=np.intp)
    cost = np.concatenate(
        [-(cols.limit[cb] * cc), np.asarray([o.reserve for o in live], dtype=np.float64)]
    )
    rows = [cp, oprod]
    index = [np.arange(nx), nx + np.arange(ny)]
    vals = [np.ones(nx), -np.ones(ny)]
    # a row for each bid with several columns (others are bounded by their column)
    counts = np.bincount(cb, minlength=len(cols.qty))
    multi = counts[cb] > 1
    rhs = np.zeros(nprod)
    if multi.any():
        several = np.unique(cb[multi])
        row_of = np.full(len(cols.qty), -1)
        row_of[several] = nprod + np.arange(len(several))
        rows.append(row_of[cb[multi]])
        index.append(np.nonzero(multi)[0])
        vals.append(cc[multi])
        rhs = np.concatenate([rhs, cols.qty[several]])
    a = csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(index))),
        shape=(len(rhs), nx + ny),
    )
    upper = np.concatenate([cols.qty[cb] / cc, [o.quantity for o in live]])
    bounds = np.column_stack([np.zeros(nx + ny), upper])
    # HiGHS's presolve costs more than it saves on this LP (it is already sparse and has
    # no redundant rows): dual simplex without it is about three times faster here
    res = linprog(
        cost, A_ub=a, b_ub=rhs, bounds=bounds, method="highs", options={"presolve": False}
    )
    if res.status != 0:  # the LP is always feasible (all zero) and bounded
        raise RuntimeError(f"auction LP failed: {res.message}")
    x = np.clip(np.asarray(res.x[:nx], dtype=np.float64), 0.0, upper[:nx])
    return x, -np.asarray(res.ineqlin.marginals[:nprod], dtype=np.float64)


def _profitable(cols: _Columns, active: Bools, x: Floats, prices: Floats) -> Bools:
    """Inactive columns with a negative reduced cost at these prices: the bid's surplus
    per unit there (limit - price / c) beats what it gets now (0 if it is not wholly
    filled, else its surplus on the columns it trades on)."""
    cb = cols.bid[active]
    filled = np.bincount(cb, weights=x * cols.c[active], minlength=len(cols.qty))
    full = filled >= cols.qty - 1e-7
    surplus = np.zeros(len(cols.qty))
    trading = x > TOL
    per_unit = cols.limit[cb] - prices[cols.prod[active]] / cols.c[active]
    np.maximum.at(surplus, cb[trading], per_unit[trading])
    surplus = np.where(full, surplus, 0.0)
    gain = cols.limit[cols.bid] - prices[cols.prod] / cols.c - surplus[cols.bid]
    return np.asarray(~active & (gain > GAIN_TOL))


def _within_quantities(cols: _Columns, x: Floats) -> Floats:
    """x with no bid over its quantity: HiGHS may overshoot a row by its feasibility
    tolerance, and a bid's fills must never exceed what it asked for."""
    x = np.where(x > TOL, x, 0.0)
    used = np.bincount(cols.bid, weights=x * cols.c, minlength=len(cols.qty))
    over = used > cols.qty
    if over.any():
        scale = np.where(over, cols.qty / np.where(over, used, 1.0), 1.0)
        x = x * scale[cols.bid]
    return x


def _time_priority(cols: _Columns, x: Floats) -> None:
    """Give each (product, value) class's device-hours to its earliest bids, in place.

    The class keeps its total, so welfare and the product's balance are unchanged, and a
    bid never goes over its quantity (a bid can take what it has left after its other
    products). Only a class at its product's price can have a partly filled bid, so this
    moves quantity only where the LP was indifferent."""
    n = len(cols.bid)
    value = np.round(cols.value, TIE_DECIMALS)
    order = np.lexsort((cols.bid, -value, cols.prod))
    sp, sv = cols.prod[order], value[order]
    starts = np.flatnonzero(np.r_[True, (sp[1:] != sp[:-1]) | (sv[1:] != sv[:-1])])
    ends = np.r_[starts[1:], n]
    position = np.arange(n)
    for _ in range(PRIORITY_PASSES):
        used = np.bincount(cols.bid, weights=x * cols.c, minlength=len(cols.qty))
        # a class is out of order where a bid that could take more comes before one that
        # has some: only those (a few per product, at its price) are reassigned
        room = (cols.qty - used)[cols.bid[order]] / cols.c[order] > TOL
        first_room = np.minimum.reduceat(np.where(room, position, n), starts)
        last_filled = np.maximum.reduceat(np.where(x[order] > TOL, position, -1), starts)
        out_of_order = np.flatnonzero(first_room < last_filled)
        if not len(out_of_order):
            return
        for k in out_of_order:
            members = order[starts[k] : ends[k]]
            left = float(x[members].sum())
            for col in members:  # in bid order
                b, c, had = cols.bid[col], float(cols.c[col]), float(x[col])
                take = min(left, max(0.0, (cols.qty[b] - used[b]) / c + had))
                if take <= TOL:
                    take = 0.0
                x[col] = take
                used[b] += (take - had) * c
                left -= take


def _fills(
    bids: Sequence[AuctionBid],
    offers: Sequence[AuctionOffer],
    offers_of: Mapping[str, list[int]],
    products: list[str],
    cols: _Columns,
    x: Floats,
    duals: Floats,
) -> _Cleared:
    """Split each product's sales over its offers (in sale order) and its bids (in bid
    order); price each product within its traders' interval."""
    out = ClearingResult()
    sold_by: dict[str, list[int]] = {}
    value = cols.value
    traded = np.flatnonzero(x > TOL)
    # by product, then value (best first), then bid order
    traded = traded[np.lexsort((cols.bid[traded], -value[traded], cols.prod[traded]))]
    bounds = np.searchsorted(cols.prod[traded], np.arange(len(products) + 1))
    for k, product in enumerate(products):
        members = traded[bounds[k] : bounds[k + 1]]
        if not len(members):
            continue
        queue = offers_of[product]
        sizes = np.asarray([offers[i].quantity for i in queue], dtype=np.float64)
        reserves = [offers[i].reserve for i in queue]
        amounts = _balance(value[members], x[members].copy(), sizes, reserves)
        keep = amounts > TOL
        members, amounts = members[keep], amounts[keep]
        if not len(members):
            continue
        by_bid = np.argsort(cols.bid[members], kind="stable")
        qi, left = 0, float(sizes[0])
        sold: list[int] = []
        for j in by_bid:
            col, need = members[j], float(amounts[j])
            b = bids[int(cols.bid[col])]
            c = float(cols.c[col])
            while need > TOL and qi < len(queue):
                take = min(need, left)
                if take > TOL:
                    o = offers[queue[qi]]
                    if not sold or sold[-1] != queue[qi]:
                        sold.append(queue[qi])
                    out.fills.append(Fill(b.id, o.id, product, take, take * c))
                    out.welfare += take * (b.limit * c - o.reserve)
                    need -= take
                    left -= take
                if left <= TOL:
                    qi += 1
                    left = float(sizes[qi]) if qi < len(queue) else 0.0
        if not sold:
            continue
        lo = max(offers[i].reserve for i in sold)
        hi = float(value[members].min())
        # lo <= hi: _balance dropped any fill valued below the marginal reserve
        out.prices[product] = min(max(float(duals[k]), lo), hi)
        sold_by[product] = sold
    return _Cleared(out, sold_by, dict(offers_of))


def _balance(values: Floats, amounts: Floats, sizes: Floats, reserves: Sequence[float]) -> Floats:
    """A product's columns' device-hours (sorted best value first) cut so that they
    fit its supply and every one values the product at least the reserve of the last
    offer that must sell to serve them. HiGHS can leave either off by its tolerance; the
    columns cut are the least valuable, whose trades were worth (about) nothing."""
    cum = np.cumsum(sizes)
    total = float(amounts.sum())
    j = len(amounts) - 1
    while j >= 0:
        if amounts[j] <= TOL:
            amounts[j] = 0.0
            j -= 1
            continue
        excess = total - float(cum[-1])
        if excess <= TOL:  # float noise in the sums, not an oversold product
            excess = 0.0
        marginal = min(int(np.searchsorted(cum, total - TOL)), len(cum) - 1)
        if excess <= 0 and values[j] >= reserves[marginal]:
            break
        before = float(cum[marginal - 1]) if marginal else 0.0
        # cut the least valuable column: by the excess, or by the marginal offer's part
        cut = excess if excess > 0 else total - before
        cut = min(float(amounts[j]), max(cut, 0.0))
        if cut <= TOL:
            cut = float(amounts[j])
        amounts[j] -= cut
        total -= cut
    return amounts
