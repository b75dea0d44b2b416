"""One call-auction period, cleared by linear programming (HiGHS, through SciPy).

Variables: x[b,p] >= 0, device-hours of supply product p sold to bid b; y[o] in [0, q_o],
device-hours sold by offer o. With c[b,p] the bid's units per device-hour of p (1 for a
device-model bid, the device's rating for an SCH bid):

    maximise   sum limit_b c[b,p] x[b,p]  -  sum reserve_o y[o]          (welfare)
    s.t.       sum_b x[b,p] - sum_{o in p} y[o] <= 0       for each product p   (dual: price_p)
               sum_p c[b,p] x[b,p] <= Q_b                  for each bid with several products
               0 <= x[b,p] <= Q_b / c[b,p]

The dual of a product's row is its competitive (Walrasian) price: every bid filled in p
values it at least that (limit x c >= price) and every offer selling in p asks at most
that (reserve <= price), so trades are individually rational and, with one price per
product for both sides, budget-balanced. Prices are then clamped into exactly that
interval, so solver tolerance can never break those properties.

Trade reduction: where fewer than `thin_market_sellers` distinct sellers trade in a
product, a seller could set its own price; the marginal (highest-reserve) trading offer
of each such product is withheld from the period and the LP solved again.

Columns that cannot trade (a bid's value per device-hour below the product's cheapest
reserve) are dropped before solving; they could never be part of an optimum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

TOL = 1e-9


@dataclass(frozen=True, slots=True)
class AuctionOffer:
    id: str
    product: str
    """Supply product key: one device model in one region for one block and lane."""
    seller: str
    quantity: float
    """Device-hours for sale."""
    reserve: float
    """CNY per device-hour."""


@dataclass(frozen=True, slots=True)
class AuctionBid:
    id: str
    buyer: str
    quantity: float
    """In the bid's unit (device-hours, core-hours or SCH)."""
    limit: float
    """CNY per unit of the bid."""
    accept: Mapping[str, float]
    """Supply product key -> units of the bid per device-hour of that product."""


@dataclass(frozen=True, slots=True)
class Fill:
    bid_id: str
    offer_id: str
    product: str
    device_hours: float
    units: float


@dataclass(slots=True)
class ClearingResult:
    fills: list[Fill] = field(default_factory=list)
    prices: dict[str, float] = field(default_factory=dict)
    """CNY per device-hour, for each product that traded."""
    welfare: float = 0.0
    reduced: tuple[str, ...] = ()
    """Products where trade reduction withheld the marginal offer."""


def clear(
    bids: Sequence[AuctionBid], offers: Sequence[AuctionOffer], *, thin_market_sellers: int = 2
) -> ClearingResult:
    """Clear a period. Orders earlier in their list win ties (time priority)."""
    withheld: set[str] = set()
    result = _solve(bids, offers, withheld)
    reduced: list[str] = []
    if thin_market_sellers > 1:
        sellers: dict[str, set[str]] = {}
        marginal: dict[str, AuctionOffer] = {}
        by_id = {o.id: o for o in offers}
        for f in result.fills:
            o = by_id[f.offer_id]
            sellers.setdefault(o.product, set()).add(o.seller)
            m = marginal.get(o.product)
            if m is None or o.reserve > m.reserve:
                marginal[o.product] = o
        for product, who in sellers.items():
            if len(who) < thin_market_sellers:
                withheld.add(marginal[product].id)
                reduced.append(product)
        if withheld:
            result = _solve(bids, offers, withheld)
    result.reduced = tuple(sorted(reduced))
    return result


def _solve(
    bids: Sequence[AuctionBid], offers: Sequence[AuctionOffer], withheld: set[str]
) -> ClearingResult:
    live = [o for o in offers if o.id not in withheld and o.quantity > TOL]
    products = sorted({o.product for o in live})
    if not products:
        return ClearingResult()
    pidx = {p: i for i, p in enumerate(products)}
    cheapest = {p: np.inf for p in products}
    supply = np.zeros(len(products))
    for o in live:
        cheapest[o.product] = min(cheapest[o.product], o.reserve)
        supply[pidx[o.product]] += o.quantity
    # columns x[b,p] that can trade
    col_bid: list[int] = []
    col_prod: list[int] = []
    col_c: list[float] = []
    for bi, b in enumerate(bids):
        if b.quantity <= TOL:
            continue
        for p, c in b.accept.items():
            if c > 0 and p in pidx and b.limit * c >= cheapest[p] - TOL:
                col_bid.append(bi)
                col_prod.append(pidx[p])
                col_c.append(c)
    if not col_bid:
        return ClearingResult()
    cols = _Columns(
        np.asarray(col_bid),
        np.asarray(col_prod),
        np.asarray(col_c, dtype=float),
        np.asarray([b.limit for b in bids], dtype=float),
        np.asarray([b.quantity for b in bids], dtype=float),
    )
    active = _initial_columns(cols, supply)
    # Column generation: solve over the most valuable columns, then add every left-out
    # column a bid would rather trade on at the prices found; when none is left, the
    # duals prove the restricted optimum optimal for the whole market.
    while True:
        x, duals = _lp(cols, active, live, pidx, len(products))
        entering = _profitable(cols, active, x, duals)
        if not entering.any():
            break
        active |= entering
    full = np.zeros(len(cols.bid))
    full[active] = x
    return _fills(bids, live, products, cols.bid, cols.prod, cols.c, full, duals)


@dataclass(frozen=True, slots=True)
class _Columns:
    bid: np.ndarray
    prod: np.ndarray
    c: np.ndarray
    limit: np.ndarray
    """Per bid."""
    qty: np.ndarray
    """Per bid."""

    @property
    def value(self) -> np.ndarray:
        """Value per device-hour of each column."""
        return np.asarray(self.limit[self.bid] * self.c)


def _initial_columns(cols: _Columns, supply: np.ndarray) -> np.ndarray:
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
    active: np.ndarray,
    live: Sequence[AuctionOffer],
    pidx: Mapping[str, int],
    nprod: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve over the active columns: (their x, the products' prices)."""
    cb, cp, cc = cols.bid[active], cols.prod[active], cols.c[active]
    nx, ny = len(cb), len(live)
    oprod = np.asarray([pidx[o.product] for o in live])
    cost = np.concatenate(
        [-(cols.limit[cb] * cc), np.asarray([o.reserve for o in live], dtype=float)]
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
    res = linprog(cost, A_ub=a, b_ub=rhs, bounds=bounds, method="highs")
    if res.status != 0:  # the LP is always feasible (all zero) and bounded
        raise RuntimeError(f"auction LP failed: {res.message}")
    return np.maximum(res.x[:nx], 0.0), -np.asarray(res.ineqlin.marginals[:nprod])


def _profitable(
    cols: _Columns, active: np.ndarray, x: np.ndarray, prices: np.ndarray
) -> np.ndarray:
    """Inactive columns with a negative reduced cost at these prices: the bid's surplus
    per unit there (limit - price / c) beats what it gets now (0 if it is not wholly
    filled, else its surplus on the columns it trades on)."""
    cb = cols.bid[active]
    filled = np.bincount(cb, weights=x * cols.c[active], minlength=len(cols.qty))
    full = filled >= cols.qty - 1e-7
    surplus = np.zeros(len(cols.qty))
    trading = x > 1e-9
    per_unit = cols.limit[cb] - prices[cols.prod[active]] / cols.c[active]
    np.maximum.at(surplus, cb[trading], per_unit[trading])
    surplus = np.where(full, surplus, 0.0)
    gain = cols.limit[cols.bid] - prices[cols.prod] / cols.c - surplus[cols.bid]
    return np.asarray(~active & (gain > 1e-7))


def _fills(
    bids: Sequence[AuctionBid],
    live: Sequence[AuctionOffer],
    products: list[str],
    cb: np.ndarray,
    cp: np.ndarray,
    cc: np.ndarray,
    x: np.ndarray,
    duals: np.ndarray,
) -> ClearingResult:
    """Split each product's sales over its offers, cheapest first and earlier first, and
    its buyers in the order of their bids; clamp prices into the traders' interval."""
    out = ClearingResult()
    offers_of: dict[int, list[tuple[float, int, AuctionOffer]]] = {}
    pidx = {p: i for i, p in enumerate(products)}
    for rank, o in enumerate(live):
        offers_of.setdefault(pidx[o.product], []).append((o.reserve, rank, o))
    order = np.lexsort((cb, cp))  # by product, then bid order
    traded = x > 1e-7
    start = 0
    idx = order[traded[order]]
    while start < len(idx):
        p = int(cp[idx[start]])
        stop = start
        while stop < len(idx) and cp[idx[stop]] == p:
            stop += 1
        queue = sorted(offers_of[p], key=lambda t: (t[0], t[1]))
        qi, left = 0, queue[0][2].quantity if queue else 0.0
        hi = np.inf
        lo = -np.inf
        for col in idx[start:stop]:
            need = float(x[col])
            b = bids[int(cb[col])]
            hi = min(hi, b.limit * float(cc[col]))
            while need > 1e-9 and qi < len(queue):
                take = min(need, left)
                if take > 1e-9:
                    o = queue[qi][2]
                    lo = max(lo, o.reserve)
                    out.fills.append(Fill(b.id, o.id, o.product, take, take * float(cc[col])))
                    out.welfare += take * (b.limit * float(cc[col]) - o.reserve)
                    need -= take
                    left -= take
                if left <= 1e-9:
                    qi += 1
                    left = queue[qi][2].quantity if qi < len(queue) else 0.0
        if lo > -np.inf:
            out.prices[products[p]] = float(min(max(duals[p], lo), hi))
        start = stop
    return out
