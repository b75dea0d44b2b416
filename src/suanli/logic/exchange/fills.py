"""From the LP's floats to exact money: quantities, prices and amounts as Decimals.

- device-hours are rounded *down* to 0.001 and then capped, in fill order, by what each
  offer has unsold and each bid still wants (when those are given), so no offer sells and
  no bid buys more than it has or wants; units = device-hours x conversion, exact
  (conversions have three decimals, so units have at most six: the ledger stores
  millionths);
- a product's price is quantised to 0.0001 CNY and clamped into [the highest reserve of
  its trading offers, the lowest limit x conversion of its filled bids, rounded down];
  fills of a bid whose exact value falls short of the highest trading reserve (solver
  tolerance, at a margin worth nothing) are dropped first;
- each fill's amount is price x device-hours rounded to the fen (half up). Rounding is
  monotone, so a buyer never pays more than round_fen(limit x units) and a seller never
  gets less than round_fen(reserve x device-hours); each amount is paid by one buyer and
  owed to one seller, so buyers' amounts sum to sellers' (before the platform's fee);
- fills that come to nothing (no device-hours, or a positive price on too few
  device-hours to make a fen) are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from suanli.domain.market import Bid, Offer
from suanli.domain.money import RATE_STEP, round_fen
from suanli.logic.exchange.auction import ClearingResult

DH_STEP = Decimal("0.001")
CONVERSION_STEP = Decimal("0.001")


def conversion(value: float) -> Decimal:
    """A rating or unit ratio as the exact decimal the auction uses (3 decimals, rounded
    down: an SCH buyer is never credited more compute than the device's rating)."""
    return Decimal(repr(value)).quantize(CONVERSION_STEP, rounding=ROUND_DOWN)


@dataclass(frozen=True, slots=True)
class MoneyFill:
    bid_id: str
    offer_id: str
    product: str
    device_hours: Decimal
    units: Decimal
    """device_hours x the bid's conversion for the product, exactly."""
    price: Decimal
    """CNY per device-hour: the product's clearing price."""
    amount: Decimal
    """round_fen(price x device_hours): what the buyer pays and the seller is owed."""


def to_money(
    result: ClearingResult,
    limits: Mapping[str, Decimal],
    reserves: Mapping[str, Decimal],
    conversions: Mapping[str, Mapping[str, Decimal]],
    *,
    offer_caps: Mapping[str, Decimal] | None = None,
    bid_caps: Mapping[str, Decimal] | None = None,
) -> list[MoneyFill]:
    """Exact fills of a clearing, in its fill order. `limits`: CNY per bid unit by bid
    id; `reserves`: CNY per device-hour by offer id (both at most four decimals);
    `conversions[bid][product]`: units per device-hour; `offer_caps`: device-hours each
    offer may still sell; `bid_caps`: units each bid may still buy (absent: no cap).

    Guarantees, exactly: one price per product; for every fill, its offer's reserve <=
    price <= its bid's limit x conversion, amount <= round_fen(limit x units) and
    amount >= round_fen(reserve x device_hours); no offer over its cap, no bid over
    its cap."""
    sold: dict[str, Decimal] = {}
    bought: dict[str, Decimal] = {}
    by_product: dict[str, list[tuple[str, str, Decimal, Decimal]]] = {}
    for f in result.fills:
        dh = Decimal(repr(f.device_hours)).quantize(DH_STEP, rounding=ROUND_DOWN)
        c = conversions[f.bid_id][f.product]
        if offer_caps is not None:
            dh = min(dh, offer_caps[f.offer_id] - sold.get(f.offer_id, Decimal(0)))
        if bid_caps is not None:
            room = bid_caps[f.bid_id] - bought.get(f.bid_id, Decimal(0))
            dh = min(dh, (room / c).quantize(DH_STEP, rounding=ROUND_DOWN))
        if dh <= 0:
            continue
        sold[f.offer_id] = sold.get(f.offer_id, Decimal(0)) + dh
        bought[f.bid_id] = bought.get(f.bid_id, Decimal(0)) + dh * c
        by_product.setdefault(f.product, []).append((f.bid_id, f.offer_id, dh, c))
    priced: dict[str, Decimal] = {}
    kept: dict[str, list[tuple[str, str, Decimal, Decimal]]] = {}
    for product, fills in by_product.items():
        lo = max(reserves[o] for _, o, _, _ in fills)
        fills = [t for t in fills if limits[t[0]] * t[3] >= lo]
        if not fills:
            continue
        hi = min(limits[b] * c for b, _, _, c in fills)
        # lo is on the 0.0001 grid and hi >= lo, so hi rounded down is still >= lo
        hi_step = hi.quantize(RATE_STEP, rounding=ROUND_DOWN)
        raw = Decimal(repr(result.prices.get(product, float(lo)))).quantize(RATE_STEP)
        priced[product] = min(max(raw, lo), hi_step)
        kept[product] = fills
    out: list[MoneyFill] = []
    for product, fills in kept.items():
        price = priced[product]
        for bid_id, offer_id, dh, c in fills:
            amount = round_fen(price * dh)
            if amount > 0 or price == 0:
                out.append(MoneyFill(bid_id, offer_id, product, dh, dh * c, price, amount))
    return out


def order_fills(
    result: ClearingResult,
    bids: Iterable[Bid],
    offers: Iterable[Offer],
    conversions: Mapping[str, Mapping[str, Decimal]],
) -> list[MoneyFill]:
    """`to_money` for a clearing of the domain's orders: limits and reserves from the
    orders, each offer capped at its unsold device-hours (devices x hours - sold) and
    each bid at its unfilled units (quantity - filled). `conversions[bid][product]`:
    units per device-hour, as the clearing used them (`conversion` of each rating)."""
    bids, offers = list(bids), list(offers)
    return to_money(
        result,
        limits={b.id: b.limit for b in bids},
        reserves={o.id: o.reserve for o in offers},
        conversions=conversions,
        offer_caps={o.id: o.unsold for o in offers},
        bid_caps={b.id: b.quantity - b.filled for b in bids},
    )
