"""Posted on-demand and preemptible prices: from the provider's floor and utilisation,
smoothed so that a price moves steadily and still signals capacity.

    on-demand target   = floor x (1 + k x max(0, u - u0) / (1 - u0))
    preemptible target = max(preemptible_floor_share x floor, discount x on-demand now)
    next               = old + alpha x (target - old), moved at most max_step x old
                         (at least one rate step while it differs from the target)

with k = 1, u0 = 0.5 (the floor up to half busy, twice the floor when full), discount 0.4,
preemptible floor share 0.3, alpha 0.3 and max_step 0.2. Unlike AWS Spot after 2017,
whose smoothed prices stopped following capacity, the target is a function of the
utilisation now, so the price keeps signalling it; unlike a raw auction price it cannot
jump.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from suanli.domain.ids import ClusterId
from suanli.domain.market import POSTED_LANES, Lane, PostedPrice
from suanli.domain.money import RATE_STEP


@dataclass(frozen=True, slots=True)
class PricingParams:
    k: Decimal = Decimal("1.0")
    u0: Decimal = Decimal("0.5")
    discount: Decimal = Decimal("0.4")
    preemptible_floor_share: Decimal = Decimal("0.3")
    alpha: Decimal = Decimal("0.3")
    max_step: Decimal = Decimal("0.2")


def target_price(floor: Decimal, utilisation: float, lane: Lane, params: PricingParams) -> Decimal:
    """The unsmoothed price of `lane` at this floor and utilisation (clamped to [0, 1]).
    ValueError for a NaN utilisation or a lane without posted prices (reserved blocks are
    priced by the auction)."""
    if math.isnan(utilisation):
        raise ValueError("utilisation is NaN")
    if lane not in POSTED_LANES:
        raise ValueError(f"the {lane.value} lane has no posted price")
    u = min(Decimal(1), max(Decimal(0), Decimal(str(round(utilisation, 6)))))
    on_demand = floor * (1 + params.k * max(Decimal(0), u - params.u0) / (1 - params.u0))
    if lane is Lane.ON_DEMAND:
        return on_demand
    return max(params.preemptible_floor_share * floor, params.discount * on_demand)


def next_price(
    previous: PostedPrice | None,
    cluster_id: ClusterId,
    resource: str,
    floor: Decimal,
    utilisation: float,
    lane: Lane,
    now: datetime,
    params: PricingParams,
) -> PostedPrice:
    """The price after one update (the target itself the first time)."""
    target = target_price(floor, utilisation, lane, params)
    if previous is None or previous.price <= 0:
        price = target
    else:
        old = previous.price
        step = params.alpha * (target - old)
        bound = params.max_step * old
        price = old + max(-bound, min(bound, step))
        if price.quantize(RATE_STEP) == old and target.quantize(RATE_STEP) != old:
            # The step rounds to nothing (a gap under ~0.0002, or a price so small that
            # 20% of it is under a rate step): move one rate step, so that a price
            # reaches its target instead of stopping short of it for good.
            price = old + (RATE_STEP if target > old else -RATE_STEP)
    price = price.quantize(RATE_STEP)
    return PostedPrice(cluster_id, resource, lane, price, floor, utilisation, now)
