"""From the LP's floats to exact money: quantities, prices and amounts as Decimals.

- device-hours are rounded *down* to 0.001, so no offer sells and no bid buys more than
  it has or wants; units = device-hours x conversion, exact (conversions have three
  decimals, so units have at most six);
- a product's price is quantised to 0.0001 CNY and clamped into [the highest reserve of
  its trading offers, the lowest limit x conversion of its filled bids, rounded down];
  fills of a bid whose exact value falls short of the highest trading reserve (solver
  tolerance, at a margin worth nothing) are dropped first;
- each fill's amount is price x device-hours rounded to the fen (half up). Rounding is
  monotone, so a buyer never pays more than round_fen(limit x units) and a seller never
  gets less than round_fen(reserve x device-hours); buyers' amounts equal sellers'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from suanli.domain.money import RATE_STEP, round_fen
from suanli.logic.exchange.auction import ClearingResult

DH_STEP = Decimal("0.001")
CONVERSION_STEP = Decimal("0.001")


def conversion(value: float) -> Decimal:
    """A rating or unit ratio as the exact decimal the auction uses (3 decimals)."""
    return Decimal(repr(value)).quantize(CONVERSION_STEP, rounding=ROUND_DOWN)


@dataclass(frozen=True, slots=True)
class MoneyFill:
    bid_id: str
    offer_id: str
    product: str
    device_hours: Decimal
    units: Decimal
    price: Decimal
    """CNY per device-hour."""
    amount: Decimal


def to_money(
    result: ClearingResult,
    limits: Mapping[str, Decimal],
    reserves: Mapping[str, Decimal],
    conversions: Mapping[str, Mapping[str, Decimal]],
) -> list[MoneyFill]:
    """Exact fills of a clearing. `limits`: CNY per bid unit by bid id; `reserves`: CNY
    per device-hour by offer id; `conversions[bid][product]`: units per device-hour."""
    by_product: dict[str, list[tuple[str, str, Decimal, Decimal]]] = {}
    for f in result.fills:
        dh = Decimal(repr(f.device_hours)).quantize(DH_STEP, rounding=ROUND_DOWN)
        if dh <= 0:
            continue
        c = conversions[f.bid_id][f.product]
        by_product.setdefault(f.product, []).append((f.bid_id, f.offer_id, dh, c))
    out: list[MoneyFill] = []
    for product, fills in by_product.items():
        lo = max(reserves[o] for _, o, _, _ in fills)
        fills = [t for t in fills if limits[t[0]] * t[3] >= lo]
        if not fills:
            continue
        hi = min(limits[b] * c for b, _, _, c in fills)
        # lo is on the 0.0001 grid and hi >= lo, so hi rounded down is still >= lo
        hi_step = hi.quantize(RATE_STEP, rounding=ROUND_DOWN)
        raw = Decimal(repr(result.prices.get(product, float(lo)))).quantize(RATE_STEP)
        price = min(max(raw, lo), hi_step)
        for bid_id, offer_id, dh, c in fills:
            out.append(
                MoneyFill(bid_id, offer_id, product, dh, dh * c, price, round_fen(price * dh))
            )
    return [f for f in out if f.amount > 0 or f.price == 0]
