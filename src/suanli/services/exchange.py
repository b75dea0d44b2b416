"""The compute exchange: offers, sealed bids, call-auction clearings, trades, resale,
posted prices, and the settlement of blocks once delivered (docs/exchange.md).

Money moves with every step, in the same transaction:
- posting a bid holds its maximum cost (quantity x limit) in the tenant's escrow;
- a clearing pays each trade from its bid's hold into ``platform:trades``;
- a bid that is filled, withdrawn, or whose blocks have all begun releases what is left;
- after a block ends it is paid out to the seller less the platform fee; a block the
  provider failed (a buyer's job in it was LOST) refunds the undelivered part pro rata
  and the provider pays a penalty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from suanli.domain.audit import AuditAction
from suanli.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from suanli.domain.ids import ClusterId, TenantId
from suanli.domain.market import (
    BID_PREFIX,
    CLEARING_PREFIX,
    CPU,
    GPU_PREFIX,
    MAX_PRODUCTS_PER_BID,
    OFFER_PREFIX,
    POSTED_LANES,
    SCH_PREFIX,
    TRADE_PREFIX,
    Bid,
    BidId,
    Clearing,
    ClearingId,
    Offer,
    OfferId,
    OrderStatus,
    PostedPrice,
    Product,
    Trade,
    TradeId,
    device_resource,
    make_product,
    parse_resource,
)
from suanli.domain.money import RATE_STEP, cny, round_fen
from suanli.domain.permissions import Permission, allows, require
from suanli.domain.pool import Cluster
from suanli.domain.standard import WorkloadClass
from suanli.domain.tenancy import Principal, Role
from suanli.logic.billing import postings
from suanli.logic.billing.posted_prices import PricingParams, next_price
from suanli.logic.exchange.auction import AuctionBid, AuctionOffer, clear
from suanli.logic.exchange.fills import MoneyFill, conversion, to_money
from suanli.logic.metering.ratings import reference_rating_pflops
from suanli.ports.clock import Clock
from suanli.ports.ids import IdGenerator
from suanli.ports.store import Store, UnitOfWork
from suanli.services.audit import record
from suanli.services.billing import MoneyPolicy, hold_money, subsidise
from suanli.services.pool import check_provider, cluster_occupancy

MAX_ORDER_QUANTITY = Decimal(10_000_000)
ALL_OPEN = (OrderStatus.OPEN,)


@dataclass(frozen=True, slots=True)
class BookLevel:
    product: str
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class Book:
    """Open offers by supply product and reserve (asks are public); bids are sealed: only
    how many there are and their total quantity per unit, plus the caller's own."""

    asks: list[BookLevel]
    bids_open: int
    bid_quantity: dict[str, Decimal]
    own_bids: list[Bid]
    own_offers: list[Offer]


def _quantity(value: str | int | Decimal, field: str) -> Decimal:
    amount = cny(value, field=field)
    if amount <= 0 or amount > MAX_ORDER_QUANTITY:
        raise InvalidInput(
            f"{field} must be more than 0 and at most {MAX_ORDER_QUANTITY}.",
            field=field,
            hint="give a positive quantity with at most four decimals.",
        )
    return amount


def _price(value: str | int | Decimal, field: str) -> Decimal:
    amount = cny(value, field=field)
    if amount < 0:
        raise InvalidInput(f"{field} cannot be negative.", field=field, hint="use 0 or more.")
    return amount


class ExchangeService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        ids: IdGenerator,
        *,
        money: MoneyPolicy | None = None,
        pricing: PricingParams | None = None,
        thin_market_sellers: int = 2,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._money = money or MoneyPolicy()
        self._pricing = pricing or PricingParams()
        self._thin = thin_market_sellers

    # --- offers ---------------------------------------------------------------------

    def post_offer(
        self,
        principal: Principal,
        *,
        cluster_id: ClusterId,
        model: str | None,
        start: datetime,
        hours: int,
        lane: str,
        devices: int,
        reserve: str | Decimal,
    ) -> Offer:
        """Offer `devices` of `model` (None: CPU cores) on a cluster for a block. The
        cluster must have them, and its offers may not overlap beyond its capacity."""
        require(principal, Permission.MARKET_OFFER)
        now = self._clock.now()
        product = make_product(device_resource(model), None, start, hours, lane)
        model = product.resource.removeprefix(GPU_PREFIX) if model is not None else None
        if product.start <= now:
            raise InvalidInput(
                "A block must start in the future.",
                field="start",
                hint="offer a block starting at a later whole hour.",
            )
        if isinstance(devices, bool) or not isinstance(devices, int) or not 1 <= devices <= 100_000:
            raise InvalidInput(
                "devices must be a whole number from 1 to 100000.",
                field="devices",
                hint="offer whole devices (or cores for CPU).",
            )
        rate = _price(reserve, "reserve")
        with self._store.unit_of_work() as uow:
            uow.market.lock()
            cluster = _cluster(uow, cluster_id)
            check_provider(principal, cluster.provider_id)
            capacity = _capacity(uow, cluster_id, model)
            if capacity == 0:
                raise Conflict(
                    f"Cluster {cluster_id} has no {device_resource(model)}.",
                    field="model",
                    hint="offer a device model its nodes have (see `suanli pool`).",
                )
            overlapping = sum(
                o.devices
                for o in uow.market.list_offers(
                    statuses=(OrderStatus.OPEN, OrderStatus.FILLED, OrderStatus.CLOSED),
                    limit=100_000,
                )
                if o.cluster_id == cluster_id
                and o.model == model
                and o.resale_of is None
                and o.start < product.end
                and product.start < o.start + timedelta(hours=o.hours)
                and (o.status is not OrderStatus.CLOSED or o.sold > 0)
            )
            if overlapping + devices > capacity:
                raise Conflict(
                    f"Cluster {cluster_id} has {capacity} of {device_resource(model)}; "
                    f"{overlapping} are already offered in an overlapping block.",
                    field="devices",
                    hint=f"offer at most {max(0, capacity - overlapping)}, or another block.",
                )
            offer = Offer(
                id=OfferId(self._ids.new(OFFER_PREFIX)),
                provider_id=cluster.provider_id,
                cluster_id=cluster_id,
                model=model,
                region_id=cluster.region_id,
                start=product.start,
                hours=product.hours,
                lane=product.lane,
                devices=devices,
                reserve=rate,
                posted_at=now,
                posted_by=principal.user_id,
            )
            uow.market.add_offer(offer)
            uow.commit()
        return offer

    def resell(self, principal: Principal, trade_id: TradeId, reserve: str | Decimal) -> Offer:
        """Offer the whole devices of a won block that has not begun onward, at a reserve;
        the proceeds, less the fee, go to the reselling tenant."""
        require(principal, Permission.MARKET_BID)
        rate = _price(reserve, "reserve")
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            uow.market.lock()
            trade = uow.market.get_trade(trade_id, for_update=True)
            if trade is None or not _sees_tenant(principal, trade.tenant_id):
                raise NotFound(
                    f"No trade {trade_id!r}.",
                    field="trade",
                    hint="list yours with `suanli market trades`.",
                )
            if trade.start <= now:
                raise Conflict(
                    "Its block has begun; only blocks that have not begun can be resold.",
                    hint="run jobs in it instead.",
                )
            already = sum(
                o.devices
                for o in uow.market.list_offers(limit=100_000)
                if o.resale_of == trade.id and o.status is not OrderStatus.WITHDRAWN
            )
            devices = int(trade.devices) - already
            if devices < 1:
                raise Conflict(
                    "Nothing left to resell: a resale offers whole devices, and this "
                    "block's are offered already.",
                    hint="ask the operator to withdraw the earlier resale offer to change it.",
                )
            offer = Offer(
                id=OfferId(self._ids.new(OFFER_PREFIX)),
                provider_id=trade.provider_id,
                cluster_id=trade.cluster_id,
                model=trade.model,
                region_id=trade.region_id,
                start=trade.start,
                hours=trade.hours,
                lane=trade.lane,
                devices=devices,
                reserve=rate,
                posted_at=now,
                posted_by=principal.user_id,
                resale_of=trade.id,
                seller_tenant=trade.tenant_id,
            )
            uow.market.add_offer(offer)
            uow.commit()
        return offer

    def withdraw_offer(self, principal: Principal, offer_id: OfferId) -> Offer:
        """Withdraw an open offer of one's own provider (the operator: any)."""
        require(principal, Permission.MARKET_OFFER)
        with self._store.unit_of_work() as uow:
            uow.market.lock()
            offer = uow.market.get_offer(offer_id, for_update=True)
            if offer is not None:
                check_provider(principal, offer.provider_id)
            if offer is None or not self._owns_offer(principal, offer):
                raise NotFound(
                    f"No offer {offer_id!r}.",
                    field="offer",
                    hint="list offers with `suanli market book`.",
                )
            if offer.status is not OrderStatus.OPEN:
                raise Conflict(
                    f"Offer {offer_id} is {offer.status.value}.",
                    hint="only open offers can be withdrawn.",
                )
            offer = replace(offer, status=OrderStatus.WITHDRAWN)
            uow.market.save_offer(offer)
            uow.commit()
        return offer

    # --- bids -----------------------------------------------------------------------

    def post_bid(
        self,
        principal: Principal,
        *,
        unit: str,
        quantity: str | Decimal,
        limit: str | Decimal,
        products: Sequence[Product],
        tenant_id: TenantId | None = None,
    ) -> Bid:
        """A sealed bid for its tenant; its maximum cost is held in escrow at once."""
        require(principal, Permission.MARKET_BID)
        tenant = _tenant_for(principal, tenant_id)
        unit = parse_resource(unit)
        qty = _quantity(quantity, "quantity")
        lim = _price(limit, "limit")
        now = self._clock.now()
        if not products or len(products) > MAX_PRODUCTS_PER_BID:
            raise InvalidInput(
                f"A bid lists 1 to {MAX_PRODUCTS_PER_BID} acceptable products.",
                field="products",
                hint="name the blocks you would accept, e.g. "
                "gpu:H100@any/2026-12-04T08:00Z+4h/reserved.",
            )
        for p in products:
            if p.resource != unit:
                raise InvalidInput(
                    f"Product {p.key} is not in the bid's unit {unit}.",
                    field="products",
                    hint="every acceptable product must be priced in the bid's unit.",
                )
            if p.start <= now:
                raise InvalidInput(
                    f"Block {p.key} has begun.",
                    field="products",
                    hint="bid for blocks that start later.",
                )
        max_cost = round_fen(qty * lim)
        bid = Bid(
            id=BidId(self._ids.new(BID_PREFIX)),
            tenant_id=tenant,
            user_id=principal.user_id,
            unit=unit,
            quantity=qty,
            limit=lim,
            products=tuple(dict.fromkeys(products)),
            posted_at=now,
            held=max_cost,
        )
        with self._store.unit_of_work() as uow:
            uow.market.lock()
            if uow.tenancy.get_tenant(tenant) is None:
                raise NotFound(
                    f"No tenant {tenant!r}.",
                    field="tenant",
                    hint="list tenants with `suanli tenant list`.",
                )
            uow.market.add_bid(bid)
            hold_money(
                uow,
                tenant,
                max_cost,
                key=f"bid:{bid.id}",
                memo=f"Bid {bid.id}",
                at=now,
                refs={"bid": bid.id},
            )
            uow.commit()
        return bid

    def withdraw_bid(self, principal: Principal, bid_id: BidId) -> Bid:
        require(principal, Permission.MARKET_BID)
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            uow.market.lock()
            bid = uow.market.get_bid(bid_id, for_update=True)
            if bid is None or not _sees_tenant(principal, bid.tenant_id):
                raise NotFound(
                    f"No bid {bid_id!r}.", field="bid", hint="list yours with `suanli market book`."
                )
            if bid.status is not OrderStatus.OPEN:
                raise Conflict(
                    f"Bid {bid_id} is {bid.status.value}.", hint="only open bids can be withdrawn."
                )
            bid = _close_bid(uow, bid, OrderStatus.WITHDRAWN, now)
            uow.commit()
        return bid

    # --- reading ----------------------------------------------------------------------

    def book(self, principal: Principal) -> Book:
        require(principal, Permission.MARKET_READ)
        with self._store.unit_of_work(readonly=True) as uow:
            offers = uow.market.list_offers(statuses=ALL_OPEN, limit=100_000)
            bids = uow.market.list_bids(statuses=ALL_OPEN, limit=1_000_000)
        levels: dict[tuple[str, Decimal], Decimal] = {}
        for o in offers:
            k = (o.supply.key, o.reserve)
            levels[k] = levels.get(k, Decimal(0)) + o.unsold
        depth: dict[str, Decimal] = {}
        for b in bids:
            depth[b.unit] = depth.get(b.unit, Decimal(0)) + b.quantity - b.filled
        return Book(
            asks=[BookLevel(p, r, q) for (p, r), q in sorted(levels.items())],
            bids_open=len(bids),
            bid_quantity=depth,
            own_bids=[
                b
                for b in bids
                if principal.tenant_id is not None and b.tenant_id == principal.tenant_id
            ],
            own_offers=[
                o
                for o in offers
                if self._owns_offer(principal, o) and principal.role is not Role.OPERATOR
            ],
        )

    def trades(
        self, principal: Principal, *, tenant_id: TenantId | None = None, limit: int = 1000
    ) -> list[Trade]:
        """Trades the caller may see: its tenant's (bought or resold), its provider's
        (sold), or all for operators and auditors."""
        require(principal, Permission.MARKET_READ)
        with self._store.unit_of_work(readonly=True) as uow:
            if principal.role is Role.PROVIDER:
                if principal.provider_id is None:
                    return []
                return uow.market.list_trades(provider_id=principal.provider_id, limit=limit)
            if not allows(principal.role, Permission.SEE_ALL_TENANTS):
                if tenant_id not in (None, principal.tenant_id):
                    raise NotFound(f"No tenant {tenant_id!r}.", field="tenant")
                tenant_id = principal.own_tenant()
            return uow.market.list_trades(tenant_id=tenant_id, limit=limit)

    def prices(self, principal: Principal) -> tuple[list[PostedPrice], Clearing | None]:
        """Posted on-demand and preemptible prices, and the last clearing."""
        require(principal, Permission.MARKET_READ)
        with self._store.unit_of_work(readonly=True) as uow:
            last = uow.market.list_clearings(1)
            return uow.market.list_posted_prices(), last[0] if last else None

    def clearings(self, principal: Principal, limit: int = 20) -> list[Clearing]:
        require(principal, Permission.MARKET_READ)
        with self._store.unit_of_work(readonly=True) as uow:
            return uow.market.list_clearings(limit)

    def _owns_offer(self, principal: Principal, offer: Offer) -> bool:
        if allows(principal.role, Permission.ALL_PROVIDERS):
            return True
        if offer.seller_tenant is not None:
            return principal.tenant_id == offer.seller_tenant
        return principal.role is Role.PROVIDER and principal.provider_id == offer.provider_id

    # --- clearing -----------------------------------------------------------------------

    def clear(self, principal: Principal | None = None) -> Clearing:
        """Clear every open bid against every open offer whose block has not begun, in
        one transaction: trades, their payments from the bids' holds, filled bids closed
        and their remaining holds released. `principal` None: the platform's own loop."""
        if principal is not None:
            require(principal, Permission.MARKET_CLEAR)
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            uow.market.lock()
            self._close_lapsed(uow, now)
            offers = [
                o
                for o in uow.market.list_offers(statuses=ALL_OPEN, limit=1_000_000)
                if o.start > now
            ]
            bids = uow.market.list_bids(statuses=ALL_OPEN, limit=1_000_000)
            a_bids, a_offers, conversions = _auction_book(bids, offers)
            result = clear(a_bids, a_offers, thin_market_sellers=self._thin)
            clearing_id = ClearingId(self._ids.new(CLEARING_PREFIX))
            by_offer = {o.id: o for o in offers}
            by_bid = {b.id: b for b in bids}
            fills = to_money(
                result,
                limits={b.id: b.limit for b in bids},
                reserves={o.id: o.reserve for o in offers},
                conversions=conversions,
            )
            trades = [
                self._trade(
                    clearing_id, by_bid[BidId(f.bid_id)], by_offer[OfferId(f.offer_id)], f, now
                )
                for f in fills
            ]
            welfare = sum(
                (
                    by_bid[t.bid_id].limit * t.units - by_offer[t.offer_id].reserve * t.device_hours
                    for t in trades
                ),
                Decimal(0),
            )
            clearing = Clearing(
                id=clearing_id,
                at=now,
                bids=len(a_bids),
                offers=len(a_offers),
                trades=len(trades),
                welfare=round_fen(welfare),
                prices={by_offer[t.offer_id].supply.key: t.price for t in trades},
                reduced=tuple(result.reduced),
            )
            uow.market.add_clearing(clearing)
            uow.market.add_trades(trades)
            self._book_trades(uow, trades, by_bid, by_offer, now)
            if principal is not None:
                record(
                    uow,
                    principal,
                    AuditAction.MARKET_CLEAR,
                    clearing_id,
                    at=now,
                    trades=len(trades),
                    welfare=str(clearing.welfare),
                )
            uow.commit()
        return clearing

    def _trade(
        self, clearing_id: ClearingId, bid: Bid, offer: Offer, fill: MoneyFill, now: datetime
    ) -> Trade:
        """The trade one fill makes: the offer's block, the bid's buyer, the fill's amounts."""
        return Trade(
            id=TradeId(self._ids.new(TRADE_PREFIX)),
            clearing_id=clearing_id,
            bid_id=bid.id,
            offer_id=offer.id,
            tenant_id=bid.tenant_id,
            provider_id=offer.provider_id,
            cluster_id=offer.cluster_id,
            model=offer.model,
            region_id=offer.region_id,
            start=offer.start,
            hours=offer.hours,
            lane=offer.lane,
            device_hours=fill.device_hours,
            units=fill.units,
            price=fill.price,
            amount=fill.amount,
            at=now,
            seller_tenant=offer.seller_tenant,
        )

    def _book_trades(
        self,
        uow: UnitOfWork,
        trades: Sequence[Trade],
        bids: dict[BidId, Bid],
        offers: dict[OfferId, Offer],
        now: datetime,
    ) -> None:
        """Pay each trade from its bid's hold (cash covers a rounding shortfall), update
        the orders, close filled ones."""
        bought: dict[BidId, list[Trade]] = {}
        for t in trades:
            bought.setdefault(t.bid_id, []).append(t)
            offer = offers[t.offer_id]
            offers[t.offer_id] = offer = replace(offer, sold=offer.sold + t.device_hours)
        for bid_id, items in bought.items():
            bid = bids[bid_id]
            held = bid.held
            for t in items:
                if t.amount == 0:
                    continue  # a free block (reserve 0) moves no money
                from_escrow = min(held, t.amount)
                uow.ledger.post(
                    postings.trade_purchase(
                        f"trade:{t.id}",
                        now,
                        t.tenant_id,
                        t.amount,
                        from_escrow,
                        f"Block {t.id}",
                        {"trade": t.id, "bid": bid.id},
                    )
                )
                held -= from_escrow
            filled = bid.filled + sum((t.units for t in items), Decimal(0))
            bid = replace(bid, filled=filled, held=held)
            if filled >= bid.quantity:
                bid = _close_bid(uow, bid, OrderStatus.FILLED, now)
            else:
                uow.market.save_bid(bid)
            bids[bid_id] = bid
        for offer in {t.offer_id: offers[t.offer_id] for t in trades}.values():
            status = OrderStatus.FILLED if offer.sold >= offer.device_hours else offer.status
            uow.market.save_offer(replace(offer, status=status))

    def _close_lapsed(self, uow: UnitOfWork, now: datetime) -> int:
        """Close open bids whose every block has begun (releasing their holds) and open
        offers whose block has begun."""
        closed = 0
        for bid in uow.market.list_bids(statuses=ALL_OPEN, limit=1_000_000):
            if all(p.start <= now for p in bid.products):
                _close_bid(uow, bid, OrderStatus.CLOSED, now)
                closed += 1
        for offer in uow.market.list_offers(statuses=ALL_OPEN, limit=1_000_000):
            if offer.start <= now:
                uow.market.save_offer(replace(offer, status=OrderStatus.CLOSED))
                closed += 1
        return closed

    # --- the market loop ----------------------------------------------------------------

    def run_once(self) -> int:
        """Close lapsed orders, settle delivered blocks, update posted prices."""
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            uow.market.lock()
            done = self._close_lapsed(uow, now)
            uow.commit()
        done += self.settle_blocks()
        done += self.update_posted_prices()
        return done

    def settle_blocks(self) -> int:
        """Pay out every block that has ended, less the platform fee, to its seller; a
        failed block refunds its buyer the undelivered part and the provider pays a
        penalty. Each block in its own transaction, keyed, so a retry changes nothing."""
        now = self._clock.now()
        with self._store.unit_of_work(readonly=True) as uow:
            due = uow.market.list_trades(ended_before=now, settled=False, limit=10_000)
        for trade in due:
            with self._store.unit_of_work() as uow:
                current = uow.market.get_trade(trade.id, for_update=True)
                if current is None or current.settled:
                    continue
                for p in postings.block_settlement(
                    current, self._money.fee_rate, self._money.penalty_rate, now
                ):
                    uow.ledger.post(p)
                if current.failed_at is None:
                    subsidise(
                        uow,
                        current.tenant_id,
                        current.provider_id,
                        current.amount,
                        f"block:{current.id}",
                        now,
                    )
                uow.market.save_trade(replace(current, settled=True))
                uow.commit()
        return len(due)

    def update_posted_prices(self) -> int:
        """Move every priced cluster's posted prices towards the formula's target for its
        utilisation now (docs/exchange.md); the provider's floor is its hand-set price."""
        now = self._clock.now()
        count = 0
        with self._store.unit_of_work() as uow:
            for usage in cluster_occupancy(uow):
                cluster = usage.cluster
                if cluster.gpu_hour_price is None:
                    continue
                floor = cluster.gpu_hour_price.quantize(RATE_STEP)
                previous = {
                    (p.resource, p.lane): p for p in uow.market.list_posted_prices(cluster.id)
                }
                for resource, utilisation in _utilisation(usage).items():
                    for lane in POSTED_LANES:
                        price = next_price(
                            previous.get((resource, lane)),
                            cluster.id,
                            resource,
                            floor,
                            utilisation,
                            lane,
                            now,
                            self._pricing,
                        )
                        uow.market.set_posted_price(price)
                        count += 1
            uow.commit()
        return count


def _utilisation(usage: object) -> dict[str, float]:
    """Share of each device model (or of the cores of a CPU-only cluster) allocated."""
    total: dict[str, float] = {}
    used: dict[str, float] = {}
    for n in usage.nodes:  # type: ignore[attr-defined]
        if n.node.capacity.gpus:
            for model, count in n.node.capacity.gpus.items():
                total[GPU_PREFIX + model] = total.get(GPU_PREFIX + model, 0.0) + count
                used[GPU_PREFIX + model] = used.get(GPU_PREFIX + model, 0.0) + n.used.gpus.get(
                    model, 0
                )
        else:
            total[CPU] = total.get(CPU, 0.0) + n.node.capacity.cpus
            used[CPU] = used.get(CPU, 0.0) + n.used.cpus
    return {k: (used[k] / v if v else 0.0) for k, v in total.items()}


def _acceptable(bid: Bid, supply: dict[str, Product]) -> dict[str, Decimal]:
    """Supply product key -> bid units per device-hour, for every supply product one of
    the bid's products accepts (an SCH bid: the device model's reference rating)."""
    out: dict[str, Decimal] = {}
    for wanted in bid.products:
        for key, s in supply.items():
            if not wanted.accepts(s):
                continue
            if wanted.resource == s.resource:
                out[key] = Decimal(1)
            elif wanted.resource.startswith(SCH_PREFIX) and s.resource.startswith(GPU_PREFIX):
                rating = reference_rating(
                    s.resource[len(GPU_PREFIX) :], WorkloadClass(wanted.resource[len(SCH_PREFIX) :])
                )
                if rating:
                    out[key] = rating
    return out


def reference_rating(model: str, workload: WorkloadClass) -> Decimal | None:
    """PFLOPS per device of a model in a class by the catalog's reference efficiency, to
    three decimals: the rate at which an SCH bid clears against it, on every cluster."""
    rating = reference_rating_pflops(model, workload)
    exact = conversion(rating) if rating else None
    return exact if exact else None


def _close_bid(uow: UnitOfWork, bid: Bid, status: OrderStatus, now: datetime) -> Bid:
    """Close a bid and release what its hold still has."""
    if bid.held > 0:
        uow.ledger.post(
            postings.release(
                f"release:{bid.id}",
                now,
                bid.tenant_id,
                bid.held,
                f"Bid {bid.id} {status.value}",
                {"bid": bid.id},
            )
        )
    closed = replace(bid, status=status, held=Decimal(0))
    uow.market.save_bid(closed)
    return closed


def _cluster(uow: UnitOfWork, cluster_id: ClusterId) -> Cluster:
    cluster = uow.pool.get_cluster(cluster_id)
    if cluster is None:
        raise NotFound(
            f"No cluster {cluster_id!r}.", field="cluster", hint="list clusters with `suanli pool`."
        )
    return cluster


def _capacity(uow: UnitOfWork, cluster_id: ClusterId, model: str | None) -> int:
    nodes = uow.pool.list_nodes(cluster_id)
    if model is None:
        return int(sum(n.capacity.cpus for n in nodes if not n.capacity.gpus))
    return sum(n.capacity.gpus.get(model, 0) for n in nodes)


def _sees_tenant(principal: Principal, tenant_id: TenantId) -> bool:
    return allows(principal.role, Permission.SEE_ALL_TENANTS) or principal.tenant_id == tenant_id


def _tenant_for(principal: Principal, tenant_id: TenantId | None) -> TenantId:
    if principal.role is Role.OPERATOR and tenant_id is not None:
        return tenant_id
    own = principal.own_tenant()
    if tenant_id not in (None, own):
        raise Forbidden(
            f"You bid for tenant {own!r}, not {tenant_id!r}.",
            field="tenant",
            hint="leave the tenant out.",
        )
    return own


def _auction_book(
    bids: Sequence[Bid], offers: Sequence[Offer]
) -> tuple[list[AuctionBid], list[AuctionOffer], dict[str, dict[str, Decimal]]]:
    """The auction's view of the open book: offers with unsold device-hours, bids with
    an unfilled quantity and some offered supply they accept, and each such bid's
    conversions (standard units per device-hour of each supply it accepts)."""
    supply = {o.supply.key: o.supply for o in offers}
    a_offers = [
        AuctionOffer(
            o.id, o.supply.key, o.seller_tenant or o.provider_id, float(o.unsold), float(o.reserve)
        )
        for o in offers
        if o.unsold > 0
    ]
    a_bids = []
    conversions: dict[str, dict[str, Decimal]] = {}
    for b in bids:
        accept = _acceptable(b, supply)
        if accept and b.quantity > b.filled:
            conversions[b.id] = accept
            a_bids.append(
                AuctionBid(
                    b.id,
                    b.tenant_id,
                    float(b.quantity - b.filled),
                    float(b.limit),
                    {k: float(c) for k, c in accept.items()},
                )
            )
    return a_bids, a_offers, conversions
