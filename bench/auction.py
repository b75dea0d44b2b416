"""Call-auction clearing: 100,000 sealed bids and 10,000 offers over 50 products.

Generates a market from distributions (seeded): each product (a device model, region and
block) has a mean price drawn log-uniformly between 2 and 40 CNY per device-hour;
offers post lognormal reserves around 0.8x the mean and 1-64 devices x the block's
hours; bids post lognormal limits around 1.1x the mean, quantities of 1-200
device-hours, and accept 1-4 products (a fifth of them bid in standard compute-hours
of a class, with the products' device ratings as conversions). It clears the market
with the LP (`suanli.logic.exchange.auction.clear`) and with the greedy price-sorted
match (`greedy`) in the same run, and checks the LP's fills (quantities within every
order, every price between the matched limits and reserves). One stdout line:

    {"bench": "auction", "bids": ..., "offers": ..., "products": ..., "seed": ...,
     "clear_seconds": ...,
     "welfare": ..., "greedy_welfare": ..., "welfare_vs_greedy": ..., "greedy_seconds": ...,
     "trades": ..., "reduced_products": ..., "target_clear_seconds": 2.0}

`trades` counts the LP's fills (one per bid and offer pair: each becomes a trade).

Targets (issue 12): clear_seconds < 2, welfare_vs_greedy >= 1.

    .venv/bin/python bench/auction.py [--bids 100000] [--offers 10000] [--products 50]
        [--seed 12]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time

from suanli.logic.exchange.auction import AuctionBid, AuctionOffer, ClearingResult, clear
from suanli.logic.exchange.greedy import greedy

RATINGS = (0.989, 0.312, 0.624, 0.181, 0.362)
"""PFLOPS (FP16) of the products' device models at reference efficiency, for SCH bids."""


def log(message: str) -> None:
    print(f"[bench auction] {message}", file=sys.stderr, flush=True)


def market(
    bids: int, offers: int, products: int, seed: int
) -> tuple[list[AuctionBid], list[AuctionOffer]]:
    rng = random.Random(seed)
    keys = [f"gpu:M{i % len(RATINGS)}@r{i % 7}/blk{i}+4h/reserved" for i in range(products)]
    mean = {k: math.exp(rng.uniform(math.log(2), math.log(40))) for k in keys}
    rating = {k: RATINGS[i % len(RATINGS)] for i, k in enumerate(keys)}
    sellers = [f"p{i}" for i in range(max(2, offers // 40))]
    offer_list = [
        AuctionOffer(
            f"o{i}",
            k := rng.choice(keys),
            rng.choice(sellers),
            float(rng.randint(1, 64) * 4),
            round(mean[k] * 0.8 * rng.lognormvariate(0, 0.25), 4),
        )
        for i in range(offers)
    ]
    bid_list = []
    for i in range(bids):
        accepted = rng.sample(keys, rng.randint(1, 4))
        sch = rng.random() < 0.2
        conv = {k: (rating[k] if sch else 1.0) for k in accepted}
        base = sum(mean[k] / conv[k] for k in accepted) / len(accepted)
        bid_list.append(
            AuctionBid(
                f"b{i}",
                f"t{i % 500}",
                float(rng.randint(1, 200)),
                round(base * 1.1 * rng.lognormvariate(0, 0.3), 4),
                conv,
            )
        )
    return bid_list, offer_list


def verify(result: ClearingResult, bids: list[AuctionBid], offers: list[AuctionOffer]) -> None:
    """Quantities within every order; each price between its fills' reserves and limits."""
    bought: dict[str, float] = {}
    sold: dict[str, float] = {}
    by_bid = {b.id: b for b in bids}
    by_offer = {o.id: o for o in offers}
    for f in result.fills:
        bought[f.bid_id] = bought.get(f.bid_id, 0.0) + f.units
        sold[f.offer_id] = sold.get(f.offer_id, 0.0) + f.device_hours
        price = result.prices[f.product]
        b, o = by_bid[f.bid_id], by_offer[f.offer_id]
        # exact: the auction clamps each price into its traders' interval
        if not o.reserve <= price <= b.limit * b.accept[f.product]:
            raise SystemExit(f"price {price} of {f.product} outside its traders' interval")
    for bid_id, units in bought.items():
        if units > by_bid[bid_id].quantity + 1e-6:
            raise SystemExit(f"bid {bid_id} over-filled")
    for offer_id, dh in sold.items():
        if dh > by_offer[offer_id].quantity + 1e-6:
            raise SystemExit(f"offer {offer_id} oversold")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bids", type=int, default=100_000)
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    bids, offers = market(args.bids, args.offers, args.products, args.seed)
    log(f"{len(bids)} bids, {len(offers)} offers over {args.products} products")
    began = time.perf_counter()
    result = clear(bids, offers)
    clear_s = time.perf_counter() - began
    began = time.perf_counter()
    base = greedy(bids, offers)
    greedy_s = time.perf_counter() - began
    verify(result, bids, offers)
    print(
        json.dumps(
            {
                "bench": "auction",
                "bids": len(bids),
                "offers": len(offers),
                "products": args.products,
                "seed": args.seed,
                "clear_seconds": round(clear_s, 3),
                "welfare": round(result.welfare, 2),
                "greedy_welfare": round(base.welfare, 2),
                "welfare_vs_greedy": round(result.welfare / base.welfare, 4)
                if base.welfare
                else None,
                "greedy_seconds": round(greedy_s, 3),
                "trades": len(result.fills),
                "reduced_products": len(result.reduced),
                "target_clear_seconds": 2.0,
            }
        )
    )


if __name__ == "__main__":
    main()
