"""The greedy baseline the auction is measured against: price-sorted matching.

Every (bid, acceptable product) pair is ranked by the bid's value per device-hour of
that product; each in turn buys from the product's cheapest remaining offers while its
value covers their reserve. It is what an order book that matches best bid to best ask
does; the LP can do better when bids accept several products (it routes each bid to where
it adds most) and never does worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from suanli.logic.exchange.auction import AuctionBid, AuctionOffer, ClearingResult, Fill


@dataclass(slots=True)
class _Ask:
    offer: AuctionOffer
    left: float


def greedy(bids: Sequence[AuctionBid], offers: Sequence[AuctionOffer]) -> ClearingResult:
    """Match in price order; earlier orders first among equals."""
    by_product: dict[str, list[_Ask]] = {}
    for o in offers:  # a stable sort keeps arrival order among equal reserves
        by_product.setdefault(o.product, []).append(_Ask(o, o.quantity))
    for queue in by_product.values():
        queue.sort(key=lambda a: a.offer.reserve)
    heads = dict.fromkeys(by_product, 0)
    pairs = sorted(
        (
            (-b.limit * c, bi, p, c)
            for bi, b in enumerate(bids)
            for p, c in b.accept.items()
            if p in by_product and c > 0
        ),
    )
    left = [b.quantity for b in bids]
    out = ClearingResult()
    for neg_value, bi, p, c in pairs:
        value = -neg_value
        queue = by_product[p]
        while left[bi] > 1e-12 and heads[p] < len(queue):
            ask = queue[heads[p]]
            if value < ask.offer.reserve:
                break
            take = min(left[bi] / c, ask.left)
            out.fills.append(Fill(bids[bi].id, ask.offer.id, p, take, take * c))
            out.welfare += take * (value - ask.offer.reserve)
            left[bi] -= take * c
            ask.left -= take
            if ask.left <= 1e-12:
                heads[p] += 1
    return out
